import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { llmResilience, llmTask, type LlmResilienceMiddleware } from '../../lib';
import type { CompletionRequest, LlmResilienceOptions } from '../../lib/types';

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
  app.silent = true;
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    llm,
    async close() {
      await llm.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
