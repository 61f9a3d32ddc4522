import http from 'node:http';
import request from 'supertest';
import { createDemoApp } from '../../demo-app/app';
import { llmResilience } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

let fake: FakeLlm;
let llm: ReturnType<typeof llmResilience>;
let server: http.Server;
beforeEach(async () => {
  fake = await startFakeLlm();
  llm = llmResilience({
    models: [
      { name: 'smart', model: 'demo-smart', baseURL: fake.url, apiKey: 'k', timeoutMs: 100 },
      { name: 'fast', model: 'demo-fast', baseURL: fake.url, apiKey: 'k' },
    ],
  });
  const app = createDemoApp(llm);
  app.silent = true;
  server = http.createServer(app.callback());
});
afterEach(async () => {
  await llm.close();
  await fake.close();
});

describe('demo app', () => {
  it('POST /summarize falls back when the smart model is slow', async () => {
    fake.setBehavior('demo-smart', { latencyMs: 1000 });
    const r = await request(server).post('/summarize').send({ text: 'Koa is small.' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ model: 'fast', fallback: true, cached: false });
    expect(r.body.summary).toContain('Koa is small.');
  });

  it('POST /chat and GET /health', async () => {
    const r = await request(server).post('/chat').send({ messages: [{ role: 'user', content: 'hi' }] });
    expect(r.body.model).toBe('smart');
    const h = await request(server).get('/health');
    expect(h.body.models.map((m: { name: string; state: string }) => [m.name, m.state])).toEqual([
      ['smart', 'closed'],
      ['fast', 'closed'],
    ]);
    expect(h.body.cache).toMatchObject({ misses: 1 });
  });

  it('POST /chat/stream streams SSE, GET / serves the page, /v1 speaks OpenAI', async () => {
    const r = await request(server).post('/chat/stream').send({ messages: [{ role: 'user', content: 'stream it' }] }).buffer(true).parse((res, cb) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString()));
      res.on('end', () => cb(null, data));
    });
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.body).toContain('event: delta');
    expect(r.body).toMatch(/event: done\ndata: \{"model":"smart"/);
    const page = await request(server).get('/');
    expect(page.text).toContain('/chat/stream');
    const models = await request(server).get('/v1/models').set('authorization', 'Bearer demo-token-change-me');
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining(['default', 'cheap', 'smart', 'fast']));
    await request(server).get('/v1/models').expect(401);
  });

  it('answers 400 saying what is wrong with a bad body', async () => {
    const notJson = await request(server).post('/summarize').set('content-type', 'application/json').send('{bad');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toMatch(/not valid JSON/);
    const noText = await request(server).post('/summarize').send({ txt: 'x' });
    expect(noText.status).toBe(400);
    expect(noText.body.error.message).toMatch(/"text"/);
    const badMessage = await request(server).post('/chat').send({ messages: [{ role: 'robot', content: 'x' }] });
    expect(badMessage.status).toBe(400);
    expect(badMessage.body.error.details[0]).toMatch(/\/messages\/0\/role/);
    expect(fake.stats().requests).toBe(0);
  });
});
