/**
 * The Express adapter's cache scope holds at every way in: `req.llm.complete`, `req.llm.stream` and
 * `req.llm.sse`, with the exact cache alone and with the semantic cache too. Two tenants send the same
 * request: the second one's call reaches the provider (counted there) and gets its own answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { llmExpress, type LlmExpressMiddleware, type LlmExpressOptions } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

let fake: FakeLlm;
let llm: LlmExpressMiddleware;
let server: http.Server;
let base: string;

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await llm.close();
  await fake.close();
});

async function start(cache: NonNullable<LlmExpressOptions['cache']>): Promise<void> {
  fake = await startFakeLlm({ behaviors: { embed: {} } });
  llm = llmExpress({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 }], cache });
  const app = express();
  app.use(express.json());
  app.use(llm);
  app.post('/complete', async (req, res) => {
    res.type('text').send((await req.llm.complete(req.body)).text);
  });
  app.post('/stream', async (req, res) => {
    let text = '';
    for await (const piece of req.llm.stream(req.body)) text += piece;
    res.type('text').send(text);
  });
  app.post('/sse', async (req) => {
    await req.llm.sse(req.body);
  });
  app.use(llm.errorHandler);
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function ask(path: string, tenant: string, content: string): Promise<string> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': tenant }, body: JSON.stringify({ messages: [{ role: 'user', content }], temperature: 0 }) });
  const text = await r.text();
  if (path !== '/sse') return text;
  return text
    .split('\n\n')
    .filter((b) => b.startsWith('event: delta'))
    .map((b) => (JSON.parse(b.split('\n')[1].slice(6)) as { text: string }).text)
    .join('');
}

describe.each([
  ['the exact cache', {}],
  ['the exact and semantic caches', { semantic: { embeddingModel: 'embed', threshold: 0.9, timeoutMs: 2000 } }],
] as const)('llmExpress tenant scope with %s', (_label, extra) => {
  it.each(['/complete', '/stream', '/sse'])('req.llm via %s: a second tenant never gets the first one\'s answer', async (path) => {
    await start({ ...extra, scope: (req) => String(req.headers['x-tenant']) });
    const upstream = (): number => fake.stats('big').requests;
    fake.setBehavior('big', { text: 'tenant A secret plan' });
    expect(await ask(path, 'a', 'what is our plan?')).toBe('tenant A secret plan');
    expect(await ask(path, 'a', 'what is our plan?')).toBe('tenant A secret plan');
    expect(upstream()).toBe(1);
    fake.setBehavior('big', { text: 'tenant B own answer' });
    expect(await ask(path, 'b', 'what is our plan?')).toBe('tenant B own answer');
    expect(upstream()).toBe(2);
  });
});
