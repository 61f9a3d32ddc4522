/** The Express adapter over real HTTP: req.llm, its error handler, disconnects, SSE, tenant scope and headers. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { ConfigError, llmExpress, type LlmExpressMiddleware, type LlmExpressOptions } from '../../lib';
import type { FakeLlm } from '../../lib/testing';
import { useFakeLlm, waitFor } from '../helpers/app';

let fake: FakeLlm;
let llm: LlmExpressMiddleware | undefined;
let server: http.Server | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    server?.closeAllConnections();
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
    await llm?.close();
    llm = undefined;
  },
);

const models = () => [
  { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 1000 },
  { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 1000 },
];

/** An Express 5 app: JSON bodies, the middleware, a few routes, the error handler last. */
async function start(extra: Partial<LlmExpressOptions> = {}): Promise<string> {
  llm = llmExpress({ models: models(), cache: false, ...extra });
  const app = express();
  app.use(express.json());
  app.use(llm);
  app.post('/complete', async (req, res) => {
    res.json(await req.llm.complete(req.body));
  });
  app.post('/summarize', llm.task('summarize'), async (req, res) => {
    res.json(await req.llm.complete(req.body));
  });
  app.post('/stream', async (req) => {
    await req.llm.sse(req.body);
  });
  app.get('/health', (req, res) => {
    res.json(req.llm.status());
  });
  app.use(llm.errorHandler);
  server = http.createServer(app);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content }], ...extra });

describe('llmExpress', () => {
  it('answers through req.llm.complete and falls back when the first model fails', async () => {
    const url = await start();
    fake.setBehavior('big', { mode: 'error' });
    const res = await request(url).post('/complete').send(ask('hello'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ text: 'small answer: hello', model: 'fast', fallback: true });
    // the 500, its one retry on the same model, then the fallback
    expect(res.body.attempts.map((a: { outcome: string; retry?: number }) => `${a.outcome}:${a.retry ?? 0}`)).toEqual(['error:0', 'error:1', 'success:0']);
    expect(fake.stats('big').requests).toBe(2);
    expect(fake.stats('small').requests).toBe(1);
    const health = await request(url).get('/health');
    expect(health.body.models[0]).toMatchObject({ name: 'smart', failures: 2 });
  });

  it('its error handler answers 503 with Retry-After when every model fails, and 400 for a bad request', async () => {
    const url = await start();
    fake.setBehavior('big', { mode: 'error' });
    fake.setBehavior('small', { mode: 'error', status: 401 });
    const res = await request(url).post('/complete').send(ask('x'));
    expect(res.status).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.body).toEqual({
      // the 500 is retried once on the same model; the 401 is not
      error: { type: 'all_models_failed', message: expect.any(String), attempts: [{ model: 'smart', outcome: 'error' }, { model: 'smart', outcome: 'error' }, { model: 'fast', outcome: 'error' }] },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/simulated|stack/);
    const bad = await request(url).post('/complete').send({ messages: [], temperature: 7 });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ type: 'invalid_request', code: 'REQUEST_INVALID' });
    expect(bad.body.error.details).toEqual(expect.arrayContaining(['/messages: must NOT have fewer than 1 items', '/temperature: must be <= 2']));
    expect(fake.stats('big').requests).toBe(2); // the first request's 500 and its retry; the bad one reached no model
  });

  it('cancels the upstream call when the client goes away, without blaming the model', async () => {
    const url = await start();
    fake.setBehavior('big', { mode: 'hang' });
    const client = http.request(`${url}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    client.on('error', () => undefined);
    client.end(JSON.stringify(ask('bye')));
    await waitFor(() => fake.stats('big').pending === 1);
    client.destroy();
    await waitFor(() => fake.stats('big').aborted === 1);
    expect(fake.stats('small').requests).toBe(0);
    expect(llm!.status().models[0]).toMatchObject({ failures: 0, inFlight: 0 });
  });

  it('streams Server-Sent Events with req.llm.sse, and a failure before the first token is an ordinary 503', async () => {
    const url = await start();
    fake.setBehavior('big', { mode: 'error' });
    const res = await request(url).post('/stream').send(ask('stream me'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = res.text.trim().split('\n\n').map((block) => {
      const [event, data] = block.split('\n');
      return { event: event.replace('event: ', ''), data: JSON.parse(data.replace('data: ', '')) as Record<string, unknown> };
    });
    const text = events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    expect(text).toBe('small answer: stream me');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { model: 'fast', fallback: true, finishReason: 'stop' } });
    fake.setBehavior('small', { mode: 'rate_limit' });
    const failed = await request(url).post('/stream').send(ask('again'));
    expect(failed.status).toBe(503);
    expect(failed.body.error.type).toBe('all_models_failed');
  });

  it('keeps tenants apart with cache.scope(req), and a route task labels its latency', async () => {
    const url = await start({ cache: { scope: (req) => String(req.headers['x-tenant'] ?? '') } });
    const a1 = await request(url).post('/summarize').set('x-tenant', 'a').send(ask('same'));
    const a2 = await request(url).post('/summarize').set('x-tenant', 'a').send(ask('same'));
    const b1 = await request(url).post('/summarize').set('x-tenant', 'b').send(ask('same'));
    expect([a1.body.cached, a2.body.cached, b1.body.cached]).toEqual([false, true, false]);
    expect(fake.stats('big').requests).toBe(2);
    const latency = llm!.status().models[0].latency;
    expect(latency.summarize?.samples).toBe(2); // both provider calls came through the summarize route
  });

  it('with exposeHeaders, says who answered', async () => {
    const url = await start({ exposeHeaders: true });
    fake.setBehavior('big', { mode: 'error' });
    const res = await request(url).post('/complete').send(ask('h'));
    expect([res.headers['x-llm-model'], res.headers['x-llm-fallback'], res.headers['x-llm-cache'], res.headers['x-llm-attempts']]).toEqual(['fast', 'true', 'miss', '3']); // smart, its retry, fast
  });

  it('checks its options at start-up, as llmResilience does', () => {
    expect(() => llmExpress({ models: [{ model: '' }], breaker: { volumeThreshold: -1 } } as never)).toThrow(ConfigError);
  });
});
