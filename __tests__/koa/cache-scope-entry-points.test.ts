/**
 * The cache's tenant scope holds at every way into the engine from Koa: `ctx.llm.complete`, `ctx.llm.stream`,
 * `ctx.llm.sse`, the OpenAI-compatible gateway behind `ctx.llm` and with its own engine (`llm` option), streamed
 * and not, and the standalone `cacheMiddleware` + `fallbackMiddleware`; with the exact cache alone and with the
 * semantic cache too. Two tenants send the same request: the second tenant's call reaches the provider (counted
 * there) and gets its own answer, never the first tenant's; the first tenant asking again is served from the cache.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { cacheMiddleware, fallbackMiddleware, llmResilience, type LlmMiddleware, openAICompatibleRouter } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { CompletionRequest } from '../../lib/types';
import type { CacheOptions } from '../../lib/koa/types';
import { readJson } from '../helpers/app';

const KEY = 'gateway-key-0123456789';
let fake: FakeLlm;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  fake = await startFakeLlm({ behaviors: { embed: {} } });
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await fake.close();
});

const tenantOf = (ctx: Koa.Context): string => ctx.get('x-tenant');

async function serve(app: Koa): Promise<string> {
  app.silent = true;
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One entry point: asks `content` as `tenant`, returns the answer's text. */
type Ask = (tenant: string, content: string) => Promise<string>;

const post = (url: string, tenant: string, body: unknown, auth = false): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': tenant, ...(auth ? { authorization: `Bearer ${KEY}` } : {}) }, body: JSON.stringify(body) });

/** The `data:` payloads of an event stream, `event:` names kept. */
function events(text: string): { event: string; data: string }[] {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => {
      const lines = block.split('\n');
      return { event: lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message', data: lines.find((l) => l.startsWith('data: '))?.slice(6) ?? '' };
    });
}

const user = (content: string) => [{ role: 'user' as const, content }];

async function entryPoints(cache: CacheOptions): Promise<Record<string, Ask>> {
  const models = [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'provider-key', timeoutMs: 5000 }];
  const scoped = { ...cache, scope: tenantOf };

  // ctx.llm (llmResilience), and the gateway behind it
  const llm = llmResilience({ models, cache: scoped });
  closers.push(() => llm.close());
  const app = new Koa();
  app.use(llm);
  const routes = new Router();
  routes.post('/complete', async (ctx) => {
    ctx.body = (await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest)).text;
  });
  routes.post('/stream', async (ctx) => {
    let text = '';
    for await (const piece of ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest)) text += piece;
    ctx.body = text;
  });
  routes.post('/sse', async (ctx) => ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest));
  app.use(routes.routes());
  app.use(openAICompatibleRouter({ apiKeys: [KEY] }).routes());
  const viaCtx = await serve(app);

  // the gateway with its own engine: nothing else mounted, the scope is that middleware's
  const own = llmResilience({ models, cache: scoped });
  closers.push(() => own.close());
  const ownApp = new Koa();
  ownApp.use(openAICompatibleRouter({ apiKeys: [KEY], llm: own }).routes());
  const viaOption = await serve(ownApp);

  // the standalone middlewares
  const { semantic: _semantic, ...exact } = scoped; // (see below: the standalone cache is tested exact only)
  const c = cacheMiddleware({ cache: exact });
  const f = fallbackMiddleware({ models });
  closers.push(async () => {
    await c.close();
    await f.close();
  });
  const standaloneApp = new Koa();
  standaloneApp.use(c).use(f as LlmMiddleware);
  standaloneApp.use(async (ctx) => {
    ctx.body = (await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest)).text;
  });
  const standalone = await serve(standaloneApp);

  const gatewayComplete = (base: string): Ask => async (tenant, content) => {
    const r = await post(`${base}/v1/chat/completions`, tenant, { model: 'default', messages: user(content), temperature: 0 }, true);
    return ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;
  };
  const gatewayStream = (base: string): Ask => async (tenant, content) => {
    const r = await post(`${base}/v1/chat/completions`, tenant, { model: 'default', messages: user(content), temperature: 0, stream: true }, true);
    return events(await r.text())
      .filter((e) => e.data.startsWith('{'))
      .map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
  };
  const text = (url: string): Ask => async (tenant, content) => (await post(url, tenant, { messages: user(content), temperature: 0 })).text();
  return {
    'ctx.llm.complete': text(`${viaCtx}/complete`),
    'ctx.llm.stream': text(`${viaCtx}/stream`),
    'ctx.llm.sse': async (tenant, content) => {
      const r = await post(`${viaCtx}/sse`, tenant, { messages: user(content), temperature: 0 });
      return events(await r.text())
        .filter((e) => e.event === 'delta')
        .map((e) => (JSON.parse(e.data) as { text: string }).text)
        .join('');
    },
    'the gateway behind ctx.llm': gatewayComplete(viaCtx),
    'the gateway behind ctx.llm, streaming': gatewayStream(viaCtx),
    'the gateway with its own engine (llm option)': gatewayComplete(viaOption),
    'the gateway with its own engine (llm option), streaming': gatewayStream(viaOption),
    'cacheMiddleware + fallbackMiddleware': text(standalone),
  };
}

const NAMES = [
  'ctx.llm.complete',
  'ctx.llm.stream',
  'ctx.llm.sse',
  'the gateway behind ctx.llm',
  'the gateway behind ctx.llm, streaming',
  'the gateway with its own engine (llm option)',
  'the gateway with its own engine (llm option), streaming',
  'cacheMiddleware + fallbackMiddleware',
];

describe.each([
  ['the exact cache', {}, NAMES],
  // the standalone cacheMiddleware has no chain to take an embedding endpoint from: the engines' semantic caches
  ['the exact and semantic caches', { semantic: { embeddingModel: 'embed', threshold: 0.9, timeoutMs: 2000 } }, NAMES.filter((n) => !n.startsWith('cacheMiddleware'))],
] as [string, CacheOptions, string[]][])('tenant scope with %s', (_label, cache, names) => {
  it.each(names)('%s: a second tenant never gets the first one\'s answer', async (name) => {
    const ask = (await entryPoints(cache))[name];
    const upstream = (): number => fake.stats('big').requests;
    const question = `what is our plan? (${name})`;

    fake.setBehavior('big', { text: 'tenant A secret plan' });
    expect(await ask('tenant-a', question)).toBe('tenant A secret plan');
    expect(upstream()).toBe(1);
    // the cache does work for the same tenant
    expect(await ask('tenant-a', question)).toBe('tenant A secret plan');
    expect(upstream()).toBe(1);

    fake.setBehavior('big', { text: 'tenant B own answer' });
    expect(await ask('tenant-b', question)).toBe('tenant B own answer');
    expect(upstream()).toBe(2);
    expect(await ask('tenant-b', question)).toBe('tenant B own answer');
    expect(upstream()).toBe(2);
    // completions looked in the semantic cache too (streams use the exact cache only)
    if (cache.semantic && !/stream|sse/.test(name)) expect(fake.stats('embed').requests).toBeGreaterThan(0);
  });
});
