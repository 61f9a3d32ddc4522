/**
 * Limits per tenant across a fleet: two engines (two processes' worth) sharing the real Redis at 127.0.0.1:6379
 * (these tests fail, not skip, without it), each behind its own Koa app over real HTTP; and a Redis that is down (a
 * port with nothing behind it), where each process limits on its own without waiting.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type Koa from 'koa';
import { Redis } from 'ioredis';
import fc from 'fast-check';
import request from 'supertest';
import { gcraStep, type LimitSpec } from '../../../lib/core/limits/gcra';
import { limitScript } from '../../../lib/core/limits/limit-script';
import { createEngine, redisStore, type LlmEngine } from '../../../lib';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import type { FakeLlm } from '../../../lib/testing';
import { startApp, type TestApp, useFakeLlm } from '../../helpers/app';

const REDIS = 'redis://127.0.0.1:6379';
let fake: FakeLlm;
let prefix: string;
let apps: TestApp[] = [];
let engines: LlmEngine[] = [];
useFakeLlm(
  (f) => {
    fake = f;
    prefix = `klr-test-${randomUUID()}:`;
  },
  async () => {
    await Promise.all([...apps.map((a) => a.close()), ...engines.map((e) => e.close())]);
    apps = [];
    engines = [];
    // the keys this test left under its prefix
    const redis = new Redis(REDIS, { lazyConnect: true });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  },
);

const tenantHeader = (ctx: Koa.ParameterizedContext) => ctx.get('x-tenant') || undefined;
let n = 0;
const ask = (more: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content: `fleet question ${++n}` }], temperature: 0, ...more });

/** One process of the fleet: a Koa app whose engine shares `url`'s Redis (store timeout far above Redis's usual answer). */
async function member(url: string, options: Partial<LlmResilienceOptions>, timeoutMs = 1000): Promise<TestApp> {
  const app = await startApp({
    models: [{ name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 }],
    cache: false,
    tenant: tenantHeader,
    shared: redisStore({ url, prefix, timeoutMs }),
    ...options,
  });
  apps.push(app);
  return app;
}

describe('fleet-wide through Redis', () => {
  it('a tenant over its limit gets 429 while another tenant is served, across two engines sharing Redis', async () => {
    const a = await member(REDIS, { tenantLimits: { requestsPerMinute: 3 } });
    const b = await member(REDIS, { tenantLimits: { requestsPerMinute: 3 } });
    const limited: unknown[] = [];
    b.llm.on('tenant:limited', (e) => limited.push(e));
    // three requests of acme, spread over both engines, use up its minute
    expect((await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(200);
    expect((await request(b.url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(200);
    expect((await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(200);
    const upstream = fake.stats().requests;
    const refused = await request(b.url).post('/complete').set('x-tenant', 'acme').send(ask());
    expect(refused.status).toBe(429);
    expect(refused.headers['x-ratelimit-limit-requests']).toBe('3');
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(fake.stats().requests).toBe(upstream);
    expect(limited).toEqual([expect.objectContaining({ fleet: true, limit: 'requests' })]);
    // the other engine refuses it too, and both serve another tenant
    expect((await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(429);
    expect((await request(a.url).post('/complete').set('x-tenant', 'globex').send(ask())).status).toBe(200);
    expect((await request(b.url).post('/complete').set('x-tenant', 'globex').send(ask())).status).toBe(200);
    expect(b.llm.status().shared).toMatchObject({ status: 'ok' });
    expect(b.llm.status().models[0].state).toBe('closed');
  });

  it('concurrent requests of one tenant on two engines: exactly the limit is admitted (one atomic script a request)', async () => {
    const a = await member(REDIS, { tenantLimits: { requestsPerMinute: 5 } });
    const b = await member(REDIS, { tenantLimits: { requestsPerMinute: 5 } });
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => request(i % 2 ? a.url : b.url).post('/complete').set('x-tenant', 'burst').send(ask())));
    const codes = all.map((r) => r.status);
    expect(codes.filter((c) => c === 200)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(7);
  });

  it('tokens settled in Redis: what one engine\'s answer really used counts on the other', async () => {
    const a = await member(REDIS, { tenantLimits: { tokensPerMinute: 150 } });
    const b = await member(REDIS, { tenantLimits: { tokensPerMinute: 150 } });
    // ~10 prompt tokens + 100 estimated, ~20 really used: the settlement gives ~90 back
    expect((await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask({ maxTokens: 100 }))).status).toBe(200);
    // (the settlement is not awaited by the request: give it a moment to land)
    await new Promise((r) => setTimeout(r, 50));
    expect((await request(b.url).post('/complete').set('x-tenant', 'acme').send(ask({ maxTokens: 100 }))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const refused = await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask({ maxTokens: 140 }));
    expect(refused.status).toBe(429);
    expect(refused.body.error.limit).toBe('tokens');
    expect(refused.headers['x-ratelimit-limit-tokens']).toBe('150');
  });

  it('the keys in Redis name a hash of the tenant, never the tenant itself', async () => {
    const a = await member(REDIS, { tenantLimits: { requestsPerMinute: 3, tokensPerMinute: 1000 } });
    await request(a.url).post('/complete').set('x-tenant', 'tenant-with-secret-123').send(ask());
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`${prefix}*`);
    await redis.quit();
    expect(keys.length).toBe(2);
    for (const k of keys) {
      expect(k).not.toContain('tenant-with-secret-123');
      expect(k).toMatch(/^klr-test-[^:]+:tl:\{[A-Za-z0-9_-]+\}:(requests|tokens)$/);
    }
  });
});

describe('the Redis script', () => {
  it('does what the per-process arithmetic does, step for step, on Redis\'s clock (generated)', async () => {
    const store = redisStore({ url: REDIS, prefix, timeoutMs: 1000 });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ give: fc.boolean(), a: fc.integer({ min: -20, max: 20 }), b: fc.integer({ min: -3, max: 3 }) }), { minLength: 1, maxLength: 15 }),
          async (steps) => {
            const keys = [`gcra-${randomUUID()}:a`, `gcra-${randomUUID()}:b`];
            let tats = [0, 0];
            for (const st of steps) {
              const mode = st.give ? 'give' : 'take';
              // a take never has a negative cost
              const specs: LimitSpec[] = [
                { windowMs: 60_000, limit: 30, cost: st.give ? st.a : Math.abs(st.a) },
                { windowMs: 86_400_000, limit: 5, cost: st.give ? st.b : Math.abs(st.b) },
              ];
              const args: (string | number)[] = [mode];
              for (const x of specs) args.push(x.windowMs, x.limit, x.cost);
              const reply = (await store.evalScript!(limitScript, keys, args)) as string[] | number[];
              expect(reply).not.toBeNull();
              const now = Number(reply[3]);
              const expected = gcraStep(mode, specs, tats, now);
              expect(reply[0]).toBe(expected.allowed ? 1 : 0);
              expect(reply[1]).toBe(expected.worst + 1);
              expect(Number(reply[2])).toBeCloseTo(expected.retryMs, 0);
              const got = [Number(reply[4]), Number(reply[5])];
              got.forEach((t, i) => expect(t).toBeCloseTo(expected.tats[i], 0));
              if (expected.allowed) tats = got;
            }
          },
        ),
        { numRuns: 15 },
      );
    } finally {
      await store.close();
    }
  });
});

describe('Redis down', () => {
  /** A loopback port with nothing listening. */
  async function closedPort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it('each process limits on its own, and no request waits for the Redis that is down', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    // a store timeout of 5 s: a request that waited on Redis would take that long at least
    const a = await member(url, { tenantLimits: { requestsPerMinute: 2 } }, 5000);
    const b = await member(url, { tenantLimits: { requestsPerMinute: 2 } }, 5000);
    const limited: { fleet: boolean }[] = [];
    a.llm.on('tenant:limited', (e) => limited.push(e));
    const started = performance.now();
    const codesA: number[] = [];
    for (let i = 0; i < 3; i++) codesA.push((await request(a.url).post('/complete').set('x-tenant', 'acme').send(ask())).status);
    const codesB: number[] = [];
    for (let i = 0; i < 3; i++) codesB.push((await request(b.url).post('/complete').set('x-tenant', 'acme').send(ask())).status);
    const other = await request(a.url).post('/complete').set('x-tenant', 'globex').send(ask());
    const tookMs = performance.now() - started;
    expect(codesA).toEqual([200, 200, 429]);
    expect(codesB).toEqual([200, 200, 429]); // per process: each has its own allowance while Redis is down
    expect(other.status).toBe(200);
    expect(limited).toEqual([expect.objectContaining({ fleet: false })]);
    expect(a.llm.status().shared).toMatchObject({ status: 'down' });
    // seven requests, none of which waited a store timeout (a wide margin: this is no measure of speed)
    expect(tookMs).toBeLessThan(4000);
  });

  it('a store that cannot run scripts keeps the limits in process', async () => {
    const store = redisStore({ url: REDIS, prefix, timeoutMs: 1000 });
    // a store with the required methods only (no evalScript)
    const minimal = {
      prefix,
      get: store.get.bind(store),
      set: store.set.bind(store),
      setIfAbsent: store.setIfAbsent.bind(store),
      del: store.del.bind(store),
      getWithLock: store.getWithLock.bind(store),
      scan: store.scan.bind(store),
      publish: store.publish.bind(store),
      subscribe: store.subscribe.bind(store),
      health: store.health.bind(store),
      close: store.close.bind(store),
    };
    const e = createEngine({
      models: [{ name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 }],
      cache: false,
      shared: minimal,
      tenantLimits: { requestsPerMinute: 1 },
    });
    engines.push(e);
    await e.complete(ask() as never, { tenant: 'acme' });
    await expect(e.complete(ask() as never, { tenant: 'acme' })).rejects.toMatchObject({ code: 'TENANT_RATE_LIMITED', status: 429 });
    await expect(e.complete(ask() as never, { tenant: 'globex' })).resolves.toMatchObject({ model: 'primary' });
    const redis = new Redis(REDIS);
    expect(await redis.keys(`${prefix}tl:*`)).toEqual([]);
    await redis.quit();
  });
});
