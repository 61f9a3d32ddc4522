/**
 * A client that leaves a stream the library serves is normal, not an application error: over real sockets, a
 * client reads the first bytes of each stream and goes away (closing its socket, or resetting it), and the app's
 * error handler is never called, nothing is logged, and an upstream call in flight is cancelled.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import { dashboardRouter, llmResilience, type LlmResilienceMiddleware, openAICompatibleRouter } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { CompletionRequest } from '../../lib/types';
import { readJson, sleep, waitFor } from '../helpers/app';

const TOKEN = 'gateway-token-0123';
const DASH = 'dashboard-token-0123';
let fake: FakeLlm;
let llm: LlmResilienceMiddleware;
let server: http.Server;
let appErrors: unknown[];
let consoleSpies: jest.SpyInstance[];

beforeEach(async () => {
  fake = await startFakeLlm({ behaviors: { '*': { chunkDelayMs: 40, text: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ') } } });
  llm = llmResilience({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 10_000 }], cache: false });
  appErrors = [];
  consoleSpies = (['error', 'warn', 'log'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => undefined));
});
afterEach(async () => {
  consoleSpies.forEach((s) => s.mockRestore());
  server?.closeAllConnections();
  if (server) await new Promise<void>((r) => server.close(() => r()));
  await llm.close();
  await fake.close();
});

/** An app (not silent: Koa's default handler would print an error) with every stream the library serves. */
async function start(): Promise<number> {
  const app = new Koa();
  app.on('error', (err: unknown) => appErrors.push(err));
  const routes = new Router();
  routes.post('/sse', async (ctx) => ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest));
  // a route that pipes ctx.llm.stream() as its own body
  routes.post('/piped', async (ctx) => {
    ctx.type = 'text';
    ctx.body = Readable.from(ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest));
  });
  // after a whole stream, the app's own call fails with a network code while the client still waits: the app's error
  routes.post('/after-stream', async (ctx) => {
    for await (const _piece of ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest)) void _piece;
    throw Object.assign(new Error('billing service: socket hang up'), { code: 'ECONNRESET' });
  });
  // a genuine bug after a stream was asked for: still the app's error
  routes.post('/bug', async (ctx) => {
    ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest);
    throw new Error('a bug in the route');
  });
  app.use(llm);
  app.use(routes.routes());
  const viaCtx = openAICompatibleRouter({ apiKeys: [TOKEN] });
  app.use(viaCtx.routes());
  const ownEngine = openAICompatibleRouter({ apiKeys: [TOKEN], llm, prefix: '/own/v1' });
  app.use(ownEngine.routes());
  app.use(dashboardRouter({ llm, auth: { token: DASH }, intervalMs: 10 }).routes());
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/**
 * Sends the request, waits for the first bytes of the body (or, with `afterMs`, that long, answered or not), then
 * leaves: a FIN (`end`) or a TCP reset (`reset`).
 */
function readThenLeave(port: number, method: string, path: string, body: unknown, how: 'end' | 'reset', afterMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { authorization: `Bearer ${path.startsWith('/dashboard') ? DASH : TOKEN}`, 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    const leave = (): void => {
      if (how === 'reset') req.socket?.resetAndDestroy();
      else req.destroy();
    };
    if (afterMs !== undefined) {
      req.on('response', () => reject(new Error('answered before the client left')));
      setTimeout(() => {
        leave();
        resolve('');
      }, afterMs);
      req.end(body === undefined ? undefined : JSON.stringify(body));
      return;
    }
    req.on('response', (res) => {
      res.once('data', (chunk: Buffer) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}: ${chunk.toString()}`));
        leave();
        resolve(chunk.toString());
      });
    });
    req.end(payload);
  });
}

const ask = { messages: [{ role: 'user', content: 'tell me a long story' }] };
const streams: [string, string, string, unknown, boolean][] = [
  ['the dashboard feed', 'GET', '/dashboard/feed', undefined, false],
  ['ctx.llm.sse', 'POST', '/sse', ask, true],
  ['ctx.llm.stream() piped as the body', 'POST', '/piped', ask, true],
  ['the gateway, streaming through ctx.llm', 'POST', '/v1/chat/completions', { model: 'default', stream: true, ...ask }, true],
  ['the gateway, streaming with its own engine (llm option)', 'POST', '/own/v1/chat/completions', { model: 'default', stream: true, ...ask }, true],
];

describe.each(['end', 'reset'] as const)('a client that leaves mid-stream (%s)', (how) => {
  it.each(streams)('%s: no app error, nothing logged, the upstream call cancelled', async (_name, method, path, body, upstream) => {
    const port = await start();
    const first = await readThenLeave(port, method, path, body, how);
    expect(first.length).toBeGreaterThan(0);
    if (upstream) await waitFor(() => fake.stats().aborted === 1, 3000);
    await sleep(150); // the dashboard pushes every 10 ms: several pushes after the client left
    expect(appErrors).toEqual([]);
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});

describe.each(['end', 'reset'] as const)('a client that leaves before the first token (%s)', (how) => {
  const waiting: typeof streams = [
    ...streams.filter(([, , , , upstream]) => upstream),
    ['the gateway, not streaming, through ctx.llm', 'POST', '/v1/chat/completions', { model: 'default', ...ask }, true],
    ['the gateway, not streaming, with its own engine', 'POST', '/own/v1/chat/completions', { model: 'default', ...ask }, true],
  ];
  it.each(waiting)('%s: no app error, nothing logged, the upstream call cancelled', async (_name, method, path, body) => {
    fake.setBehavior('big', { latencyMs: 2000 });
    const port = await start();
    await readThenLeave(port, method, path, body, how, 150);
    await waitFor(() => fake.stats().aborted === 1, 3000);
    await sleep(100);
    expect(appErrors).toEqual([]);
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});

it('any other error of a streaming route still reaches app.on(\'error\')', async () => {
  const port = await start();
  const res = await fetch(`http://127.0.0.1:${port}/bug`, { method: 'POST', body: JSON.stringify(ask) });
  expect(res.status).toBe(500);
  expect(appErrors).toEqual([expect.objectContaining({ message: 'a bug in the route' })]);
});

it('an app error with a network code, while the client still waits, is answered 500 and reported (not taken for the client leaving)', async () => {
  fake.setBehavior('big', { chunkDelayMs: 0, text: 'short answer' });
  const port = await start();
  const res = await fetch(`http://127.0.0.1:${port}/after-stream`, { method: 'POST', body: JSON.stringify(ask), signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(500);
  expect(appErrors).toEqual([expect.objectContaining({ code: 'ECONNRESET', message: 'billing service: socket hang up' })]);
});

it('a gateway client that closes its side before sending the whole body is not an app error', async () => {
  const port = await start();
  const body = JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'hi' }] });
  await new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -10)}`);
      setTimeout(() => socket.end(), 50);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.resume();
  });
  await sleep(150);
  expect(appErrors).toEqual([]);
  expect(fake.requests('big')).toHaveLength(0);
});
