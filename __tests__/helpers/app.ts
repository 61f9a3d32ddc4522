import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { llmResilience, llmTask, type LlmResilienceMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { CompletionRequest } from '../../lib/types';
import type { LlmResilienceOptions } from '../../lib/koa/types';

export interface TestApp {
  server: http.Server;
  url: string;
  llm: LlmResilienceMiddleware;
  close(): Promise<void>;
}

/** A real Koa app on loopback whose POST /complete passes the JSON body to ctx.llm.complete. */
export async function startApp(options: LlmResilienceOptions): Promise<TestApp> {
  const app = new Koa();
  const llm = llmResilience(options);
  app.use(llm);
  const router = new Router();
  router.post('/complete', async (ctx) => {
    const body = await readJson(ctx.req);
    const tenant = ctx.get('x-tenant');
    const r = await ctx.llm.complete(body as CompletionRequest);
    ctx.body = { ...r, tenant };
  });
  // The same handler with a route default task (a request's own `task` wins).
  router.post('/complete-summarize', llmTask('summarize'), async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest);
  });
  app.use(router.routes());
  const listening = await listen(app);
  return {
    ...listening,
    llm,
    async close() {
      await llm.close();
      await listening.close();
    },
  };
}

export interface Listening {
  server: http.Server;
  url: string;
  /** Closes the server and every connection still open. */
  close(): Promise<void>;
}

/** Serves a Koa app on a free loopback port (errors are not printed: tests assert them). */
export async function listen(app: Koa): Promise<Listening> {
  app.silent = true;
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fake provider for every test of the file: started before each test and handed to `started`; after each
 * test, `beforeClose` runs (close the test's app there), then the fake closes.
 */
export function useFakeLlm(started: (fake: FakeLlm) => void, beforeClose: () => Promise<void> = async () => undefined): void {
  let fake: FakeLlm;
  beforeEach(async () => {
    fake = await startFakeLlm();
    started(fake);
  });
  afterEach(async () => {
    await beforeClose();
    await fake.close();
  });
}

export function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => {
      try {
        resolve(data ? JSON.parse(data) : {});
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/**
 * Collects the process's unhandled rejections until `stop()` (a test asserts there were none), and keeps the
 * library's `process.emitWarning`s out of the output while collecting them too.
 */
export function watchProcess(): { unhandled: unknown[]; warnings: string[]; stop(): void } {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  return {
    unhandled,
    get warnings() {
      return warn.mock.calls.map((c) => String(c[0]));
    },
    stop() {
      warn.mockRestore();
      process.off('unhandledRejection', onUnhandled);
    },
  };
}

/**
 * Watches this process's event loop: a timer every `tickMs` notes each time it ran late by more than
 * `minStallMs` (a long GC pause of the test process, or the machine not scheduling it). `during(t0, t1)` is how
 * much of that stalled time fell within [t0, t1] (`performance.now()` times): what a timing assertion may not
 * blame on the code under test.
 */
export function watchLoopStalls(tickMs = 5, minStallMs = 50): { during(t0: number, t1: number): number; stop(): void } {
  const stalls: [number, number][] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last - tickMs > minStallMs) stalls.push([last + tickMs, now]);
    last = now;
  }, tickMs);
  return {
    during(t0, t1) {
      let sum = 0;
      for (const [s, e] of stalls) sum += Math.max(0, Math.min(e, t1) - Math.max(s, t0));
      return sum;
    },
    stop: () => clearInterval(timer),
  };
}
