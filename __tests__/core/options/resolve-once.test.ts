/**
 * Options are resolved once per middleware, when it is made, through the one resolver: never again by a part of
 * `llmResilience` (its cache, breakers and chain share the engine's resolved options), never per request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import request from 'supertest';
import { breakerMiddleware, cacheMiddleware, createEngine, fallbackMiddleware, llmExpress, llmResilience } from '../../../lib';
import * as resolver from '../../../lib/core/options/resolve-options';
import { memoryProvider } from '../../../lib/testing/memory-provider';

const resolveSpy = jest.spyOn(resolver, 'resolveOptions');
beforeEach(() => resolveSpy.mockClear());
afterAll(() => resolveSpy.mockRestore());

const models = () => [
  { name: 'a', model: 'ma', provider: memoryProvider({ fallback: { kind: 'fail', status: 500 } }) },
  { name: 'b', model: 'mb', provider: memoryProvider() },
];

function koaApp(...mws: Koa.Middleware[]): http.Server {
  const app = new Koa();
  for (const m of mws) app.use(m);
  app.use(async (ctx) => {
    if (ctx.query.stream === '1') {
      let text = '';
      for await (const piece of ctx.llm.stream({ prompt: String(ctx.query.q) })) text += piece;
      ctx.body = { text };
    } else {
      ctx.body = await ctx.llm.complete({ prompt: String(ctx.query.q) });
    }
  });
  return http.createServer(app.callback());
}

async function askKoa(server: http.Server, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(server).get(`/?q=question-${i % 3}${i % 2 === 0 ? '&stream=1' : ''}`);
    expect(res.status).toBe(200);
  }
}

describe('options are resolved once per middleware', () => {
  it('llmResilience: once for the engine its cache, breakers and chain share, and never per request', async () => {
    const llm = llmResilience({ models: models(), cache: { max: 10 }, breaker: { volumeThreshold: 100 } });
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    // the parts read the one resolved object: the same frozen options the engine holds
    expect(resolveSpy.mock.results[0].value).toBe(llm.engine.options);
    expect(Object.isFrozen(llm.engine.options)).toBe(true);
    await askKoa(koaApp(llm), 8);
    expect(llm.status().models.find((m) => m.name === 'a')?.failures).toBeGreaterThan(0);
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    await llm.close();
  });

  it('the three middlewares on their own: once each, when made, and never per request', async () => {
    const cache = cacheMiddleware({ cache: { max: 10 } });
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    const breakers = breakerMiddleware({ breaker: { volumeThreshold: 100 } });
    expect(resolveSpy).toHaveBeenCalledTimes(2);
    const fallback = fallbackMiddleware({ models: models() });
    expect(resolveSpy).toHaveBeenCalledTimes(3);
    const server = koaApp(cache, breakers, fallback);
    await askKoa(server, 8);
    // the cache answered repeats (so the layers were in use), with no resolving on the way
    expect(cache.status().cache?.hits).toBeGreaterThan(0);
    expect(breakers.status().models.find((m) => m.name === 'a')?.failures).toBeGreaterThan(0);
    expect(resolveSpy).toHaveBeenCalledTimes(3);
    await Promise.all([cache.close(), breakers.close(), fallback.close()]);
  });

  it('llmExpress and createEngine: once each, and never per request', async () => {
    const engine = createEngine({ models: models(), cache: false });
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 3; i++) await engine.complete({ prompt: `q${i}` });
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    await engine.close();

    const llm = llmExpress({ models: models() });
    expect(resolveSpy).toHaveBeenCalledTimes(2);
    const server = http.createServer((req, res) => {
      llm(req, res, () => {
        const r = req as typeof req & { llm: { complete: (x: { prompt: string }) => Promise<{ model: string }> } };
        r.llm.complete({ prompt: req.url ?? '' }).then(
          (answer) => res.end(JSON.stringify({ model: answer.model })),
          () => {
            res.statusCode = 500;
            res.end();
          },
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/q${i}`);
        expect(await res.json()).toEqual({ model: 'b' });
      }
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await llm.close();
    }
    expect(resolveSpy).toHaveBeenCalledTimes(2);
  });
});
