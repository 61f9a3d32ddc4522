/**
 * The Express adapter's streams: a client that leaves mid-stream (closing its socket, or resetting it) is
 * normal, not an application error. Nothing reaches Express's error handling or the log, and the upstream
 * call in flight is cancelled.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { llmExpress, type LlmExpressMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { sleep, waitFor } from '../helpers/app';

let fake: FakeLlm;
let llm: LlmExpressMiddleware;
let server: http.Server;
let errors: unknown[];
let consoleSpies: jest.SpyInstance[];

beforeEach(async () => {
  fake = await startFakeLlm({ behaviors: { '*': { chunkDelayMs: 40, text: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ') } } });
  llm = llmExpress({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 10_000 }], cache: false });
  errors = [];
  consoleSpies = (['error', 'warn', 'log'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => undefined));
  const app = express();
  app.set('env', 'development'); // Express's final handler prints errors outside 'test'
  app.use(express.json());
  app.use(llm);
  app.post('/stream', async (req) => {
    await req.llm.sse(req.body);
  });
  app.post('/iterate', async (req, res) => {
    res.setHeader('content-type', 'text/plain');
    for await (const piece of req.llm.stream(req.body)) res.write(piece);
    res.end();
  });
  app.use(llm.errorHandler);
  app.use((err: unknown, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
    errors.push(err);
    next(err);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterEach(async () => {
  consoleSpies.forEach((s) => s.mockRestore());
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await llm.close();
  await fake.close();
});

/** Reads the first bytes of the answer (or, with `afterMs`, waits that long unanswered), then closes or resets. */
function readThenLeave(path: string, how: 'end' | 'reset', afterMs?: number): Promise<string> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json' } });
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
    } else {
      req.on('response', (res) => {
        res.once('data', (chunk: Buffer) => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
          leave();
          resolve(chunk.toString());
        });
      });
    }
    req.end(JSON.stringify({ messages: [{ role: 'user', content: 'tell me a long story' }] }));
  });
}

describe.each(['end', 'reset'] as const)('llmExpress: a client that leaves mid-stream (%s)', (how) => {
  it.each(['/stream', '/iterate'])('%s: no error passed on, nothing logged, the upstream call cancelled', async (path) => {
    expect((await readThenLeave(path, how)).length).toBeGreaterThan(0);
    await waitFor(() => fake.stats().aborted === 1, 3000);
    await sleep(100);
    expect(errors).toEqual([]);
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});

describe.each(['end', 'reset'] as const)('llmExpress: a client that leaves before the first token (%s)', (how) => {
  it.each(['/stream', '/iterate'])('%s: no error passed on, nothing logged, the upstream call cancelled', async (path) => {
    fake.setBehavior('big', { latencyMs: 2000 });
    await readThenLeave(path, how, 150);
    await waitFor(() => fake.stats().aborted === 1, 3000);
    await sleep(100);
    expect(errors).toEqual([]);
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});
