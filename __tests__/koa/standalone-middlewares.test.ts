import http from 'node:http';
import Koa from 'koa';
import request from 'supertest';
import { breakerMiddleware, cacheMiddleware, ConfigError, fallbackMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

let fake: FakeLlm;
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(() => fake.close());

function appWith(...mws: Koa.Middleware[]) {
  const app = new Koa();
  for (const m of mws) app.use(m);
  app.use(async (ctx) => {
    ctx.body = await ctx.llm.complete({ prompt: ctx.query.q as string });
  });
  return http.createServer(app.callback());
}

const models = () => [
  { name: 'a', model: 'ma', baseURL: fake.url, apiKey: 'k', timeoutMs: 200 },
  { name: 'b', model: 'mb', baseURL: fake.url, apiKey: 'k', timeoutMs: 200 },
];

describe('middlewares used alone', () => {
  it('fallbackMiddleware alone: a chain with no cache and no breaker', async () => {
    fake.setBehavior('ma', { mode: 'error' });
    // one call per request to the failing model: no same-model retry of its 500
    const fb = fallbackMiddleware({ models: models(), retry: false });
    const server = appWith(fb);
    for (let i = 0; i < 8; i++) {
      const r = await request(server).get('/?q=same');
      expect(r.body).toMatchObject({ model: 'b', cached: false });
    }
    // no breaker: every request still tries the failing model
    expect(fake.stats('ma').requests).toBe(8);
    expect(fb.status().cache).toBeNull();
    await fb.close();
  });

  it('cacheMiddleware + fallbackMiddleware: caching without breakers', async () => {
    const cache = cacheMiddleware({ cache: { max: 10 } });
    const fb = fallbackMiddleware({ models: models() });
    const server = appWith(cache, fb);
    const hits: string[] = [];
    cache.on('cache:hit', (e) => hits.push(e.key));
    await request(server).get('/?q=same');
    const r = await request(server).get('/?q=same');
    expect(r.body.cached).toBe(true);
    expect(hits).toHaveLength(1);
    expect(fake.stats().requests).toBe(1);
    expect(cache.status().cache).toMatchObject({ hits: 1, size: 1 });
    await cache.close();
    await fb.close();
  });

  it('breakerMiddleware + fallbackMiddleware: breakers without a cache', async () => {
    fake.setBehavior('ma', { mode: 'error' });
    const breakers = breakerMiddleware({ breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000 } });
    const fb = fallbackMiddleware({ models: models() });
    const opened: string[] = [];
    breakers.on('breaker:open', (e) => opened.push(e.model));
    const server = appWith(breakers, fb);
    for (let i = 0; i < 5; i++) await request(server).get(`/?q=${i}`);
    expect(opened).toEqual(['a']);
    expect(fake.stats('ma').requests).toBe(2);
    expect(breakers.status().models.find((m) => m.name === 'a')?.state).toBe('open');
    await breakers.close();
    await fb.close();
  });

  it('each validates its own options', () => {
    expect(() => cacheMiddleware({ cache: { max: -1 } })).toThrow(ConfigError);
    expect(() => breakerMiddleware({ breaker: { volumeThreshold: 1.5 } })).toThrow(/\/breaker\/volumeThreshold/);
    expect(() => fallbackMiddleware({ models: [] })).toThrow(/\/models/);
  });
});
