/** The OpenAI-compatible gateway on Express, driven over real HTTP by the official openai SDK as the client. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI from 'openai';
import { ConfigError, llmExpress, type LlmExpressMiddleware, openAICompatibleExpress } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { waitFor } from '../helpers/app';

const TOKEN = 'app-token-0123456789';
let fake: FakeLlm;
let llm: LlmExpressMiddleware;
let server: http.Server;
let base: string;
let errors: unknown[];

async function start(viaReq: boolean, extra: Partial<Parameters<typeof llmExpress>[0]> = {}): Promise<void> {
  // the fake provider demands its own key: proves the client's key is never forwarded
  fake = await startFakeLlm({ apiKey: 'provider-secret-key' });
  llm = llmExpress({
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'provider-secret-key', timeoutMs: 300, firstTokenTimeoutMs: 300 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'provider-secret-key', timeoutMs: 300 },
    ],
    cache: false,
    ...extra,
  });
  errors = [];
  const app = express();
  app.set('env', 'test');
  if (viaReq) app.use(llm);
  app.use(express.json()); // a body parser before the gateway: it takes req.body as parsed
  app.use(openAICompatibleExpress({ apiKeys: [TOKEN], aliases: { cheap: ['fast'] }, ...(viaReq ? {} : { llm }) }));
  app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    errors.push(err);
    next(err);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}
afterEach(async () => {
  await llm.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await fake.close();
});

const client = (apiKey = TOKEN) => new OpenAI({ baseURL: base, apiKey, maxRetries: 0 });
const user = (content: string) => [{ role: 'user' as const, content }];

describe.each([
  ['behind req.llm', true],
  ['with its own engine', false],
])('openAICompatibleExpress %s', (_label, viaReq) => {
  beforeEach(() => start(viaReq));

  it('round-trips a chat completion, failing over, and never forwards the client\'s key', async () => {
    const c = await client().chat.completions.create({ model: 'default', messages: user('hello there'), max_tokens: 50, temperature: 0 });
    expect(c).toMatchObject({ object: 'chat.completion', model: 'big', choices: [{ message: { role: 'assistant', content: 'big answer: hello there' }, finish_reason: 'stop' }] });
    expect(c.usage?.total_tokens).toBeGreaterThan(0);
    expect(fake.requests('big')[0].body).toMatchObject({ model: 'big', max_tokens: 50, temperature: 0 });
    fake.setBehavior('big', { mode: 'error' });
    expect((await client().chat.completions.create({ model: 'default', messages: user('x') })).model).toBe('small');
    expect(errors).toEqual([]);
  });

  it('streams in the OpenAI wire format with the usage chunk, failing over before the first token', async () => {
    fake.setBehavior('big', { mode: 'hang' });
    const stream = await client().chat.completions.create({ model: 'default', messages: user('stream please'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: number | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage.total_tokens;
    }
    expect({ text, finish }).toEqual({ text: 'small answer: stream please', finish: 'stop' });
    expect(usage).toBeGreaterThan(0);
  });

  it('a stream cut mid-answer surfaces as an error in the client, never a clean end', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2 });
    const stream = await client().chat.completions.create({ model: 'default', messages: user('cut me'), stream: true });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow(/interrupted/);
    expect(text.length).toBeGreaterThan(0);
  });

  it('lists aliases and models, and serves an alias', async () => {
    expect((await client().models.list()).data.map((m) => m.id).sort()).toEqual(['cheap', 'default', 'fast', 'smart']);
    expect((await client().chat.completions.create({ model: 'cheap', messages: user('x') })).model).toBe('small');
    expect(fake.stats('big').requests).toBe(0);
  });

  it('refuses a missing or wrong key (401), a bad body (400), an unknown model (404); all failed is a 503', async () => {
    const missing = await fetch(`${base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'default', messages: user('x') }) });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toEqual({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    const denied = await client('wrong-token-000000').chat.completions.create({ model: 'default', messages: user('x') }).catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(JSON.stringify(denied)).not.toContain(TOKEN);
    const bad = await client().chat.completions.create({ model: 'default', messages: [{ role: 'robot', content: 'x' }] as never }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'messages.[0].role' });
    await expect(client().chat.completions.create({ model: 'gpt-9', messages: user('x') })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    fake.setBehavior('big', { mode: 'error' });
    fake.setBehavior('small', { mode: 'error' });
    const failed = await client().chat.completions.create({ model: 'default', messages: user('x') }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ status: 503, code: 'all_models_failed', type: 'server_error' });
    expect((failed as { headers: Headers }).headers.get('retry-after')).toMatch(/^\d+$/);
    expect(fake.stats().requests).toBe(4); // only the all-failed request's attempts reached the provider: each 500 and its one retry
    expect(errors).toEqual([]);
  });

  it('a client that leaves mid-stream cancels the upstream call, and nothing reaches the error handlers', async () => {
    fake.setBehavior('big', { chunkDelayMs: 50, text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ') });
    const controller = new AbortController();
    const stream = await client().chat.completions.create({ model: 'default', messages: user('long'), stream: true }, { signal: controller.signal });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) break; // leaves after the first words
    }
    controller.abort();
    await waitFor(() => fake.stats('big').aborted === 1, 3000);
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual([]);
  });
});

describe('openAICompatibleExpress and the middleware\'s options', () => {
  it('exposeHeaders: a completion and a stream both say which model answered', async () => {
    await start(false, { exposeHeaders: true });
    fake.setBehavior('big', { mode: 'error' });
    const llmHeaders = (h: Headers) => ['x-llm-model', 'x-llm-fallback', 'x-llm-cache', 'x-llm-attempts'].map((k) => h.get(k));
    const done = await client().chat.completions.create({ model: 'default', messages: user('x') }).withResponse();
    // three attempts each: smart, its one retry of the 500, then fast
    expect(llmHeaders(done.response.headers)).toEqual(['fast', 'true', 'miss', '3']);
    const { data: stream, response } = await client().chat.completions.create({ model: 'default', messages: user('s'), stream: true }).withResponse();
    for await (const _chunk of stream) {
      // drain
    }
    expect(llmHeaders(response.headers)).toEqual(['fast', 'true', 'miss', '3']);
  });

  it.each([
    ['behind req.llm', true],
    ['with its own engine', false],
  ])('cache scope %s: tenants never share an answer, one tenant gets its own back', async (_label, viaReq) => {
    await start(viaReq, { cache: { ttlMs: 60_000, scope: (req) => String(req.headers['x-tenant'] ?? '') } });
    const ask = (tenant: string) => new OpenAI({ baseURL: base, apiKey: TOKEN, maxRetries: 0, defaultHeaders: { 'x-tenant': tenant } }).chat.completions.create({ model: 'default', messages: user('same prompt') });
    await ask('a');
    await ask('b');
    expect(fake.stats('big').requests).toBe(2);
    await ask('a');
    expect(fake.stats('big').requests).toBe(2);
  });

  it('refuses bad options as the Koa router does', () => {
    expect(() => openAICompatibleExpress({ apiKeys: [] })).toThrow(ConfigError);
    expect(() => openAICompatibleExpress({ apiKeys: ['short'] })).toThrow(/\/apiKeys\/0/);
    expect(() => openAICompatibleExpress({ apiKeys: ['long-enough-key'], prefix: 'v1' })).toThrow(/\/prefix/);
  });
});
