/**
 * Limits per tenant over real HTTP, in one process (no shared store): a Koa app on the fake provider. A tenant over
 * a limit gets a 429 with `Retry-After` and OpenAI's `x-ratelimit-*` headers and reaches no upstream; another
 * tenant is served; no model's breaker hears of it.
 */
import Koa from 'koa';
import { Registry } from 'prom-client';
import request from 'supertest';
import { cacheMiddleware, createEngine, fallbackMiddleware, llmResilience, type LlmResilienceMiddleware, type LlmResilienceOptions, registerMetrics } from '../../../lib';
import type { FakeLlm } from '../../../lib/testing';
import { listen, type Listening, readJson, startApp, type TestApp, useFakeLlm } from '../../helpers/app';

let fake: FakeLlm;
let app: TestApp | undefined;
let extra: { close(): Promise<void> }[] = [];
useFakeLlm(
  (f) => (fake = f),
  async () => {
    await app?.close();
    app = undefined;
    await Promise.all(extra.map((x) => x.close()));
    extra = [];
  },
);

const models = () => [
  { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
  { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
];
const tenantHeader = (ctx: Koa.ParameterizedContext) => ctx.get('x-tenant') || undefined;
let n = 0;
const ask = (content = `question ${++n}`, more: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content }], temperature: 0, ...more });

async function start(options: Partial<LlmResilienceOptions>): Promise<TestApp> {
  app = await startApp({ models: models(), cache: false, tenant: tenantHeader, ...options });
  return app;
}

describe('requests per minute', () => {
  it('a tenant over its limit gets 429 with Retry-After and x-ratelimit-* while another tenant is served; the refused request reaches no upstream', async () => {
    const { url, llm } = await start({ tenantLimits: { requestsPerMinute: 2 } });
    for (let i = 0; i < 2; i++) expect((await request(url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(200);
    const upstreamBefore = fake.stats().requests;
    const limited = await request(url).post('/complete').set('x-tenant', 'acme').send(ask());
    expect(limited.status).toBe(429);
    expect(fake.stats().requests).toBe(upstreamBefore); // no upstream call for it
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(limited.headers['x-ratelimit-limit-requests']).toBe('2');
    expect(limited.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(limited.headers['x-ratelimit-reset-requests']).toMatch(/^\d+(ms|s)$|^\d+m\d+s$/);
    expect(limited.headers['x-ratelimit-limit-tokens']).toBeUndefined(); // no token limit configured
    expect(limited.body.error).toMatchObject({ type: 'tenant_rate_limited', code: 'TENANT_RATE_LIMITED', limit: 'requests' });
    expect(JSON.stringify(limited.body)).not.toContain('acme');

    const other = await request(url).post('/complete').set('x-tenant', 'globex').send(ask());
    expect(other.status).toBe(200);
    // never a model's failure: breakers closed, no attempt recorded for the refusals
    for (let i = 0; i < 10; i++) expect((await request(url).post('/complete').set('x-tenant', 'acme').send(ask())).status).toBe(429);
    const status = llm.status();
    expect(status.models.map((m) => m.state)).toEqual(['closed', 'closed']);
    expect(fake.stats().requests).toBe(upstreamBefore + 1);
  });

  it('a request with no tenant key has no tenant limit', async () => {
    const { url } = await start({ tenantLimits: { requestsPerMinute: 1 } });
    for (let i = 0; i < 3; i++) expect((await request(url).post('/complete').send(ask())).status).toBe(200);
  });

  it('counts cache hits too, and refuses before the cache is looked at', async () => {
    const { url } = await start({ cache: {}, tenantLimits: { requestsPerMinute: 2 } });
    const same = ask('the same question');
    expect((await request(url).post('/complete').set('x-tenant', 'acme').send(same)).body.cached).toBe(false);
    expect((await request(url).post('/complete').set('x-tenant', 'acme').send(same)).body.cached).toBe(true);
    expect((await request(url).post('/complete').set('x-tenant', 'acme').send(same)).status).toBe(429);
    expect(fake.stats().requests).toBe(1);
  });

  it('the tenant defaults to the cache\'s scope when no `tenant` option is given', async () => {
    const { url } = await start({ tenant: undefined, cache: { scope: (ctx) => ctx.get('x-org') }, tenantLimits: { requestsPerMinute: 1 } });
    expect((await request(url).post('/complete').set('x-org', 'a').send(ask())).status).toBe(200);
    expect((await request(url).post('/complete').set('x-org', 'a').send(ask())).status).toBe(429);
    expect((await request(url).post('/complete').set('x-org', 'b').send(ask())).status).toBe(200);
  });

  it('perTenant replaces the defaults for one tenant, and null lifts a limit', async () => {
    const { url } = await start({
      tenantLimits: { requestsPerMinute: 1, perTenant: (t) => (t === 'big' ? { requestsPerMinute: 3 } : t === 'free' ? { requestsPerMinute: null } : undefined) },
    });
    const codes = async (tenant: string, k: number) => {
      const out: number[] = [];
      for (let i = 0; i < k; i++) out.push((await request(url).post('/complete').set('x-tenant', tenant).send(ask())).status);
      return out;
    };
    expect(await codes('small', 2)).toEqual([200, 429]);
    expect(await codes('big', 4)).toEqual([200, 200, 200, 429]);
    expect(await codes('free', 4)).toEqual([200, 200, 200, 200]);
  });

  it('emits tenant:limited with a hash of the tenant, never the key itself; the request event says rejected', async () => {
    const { url, llm } = await start({ tenantLimits: { requestsPerMinute: 1 } });
    const seen: unknown[] = [];
    const outcomes: string[] = [];
    llm.on('tenant:limited', (e) => seen.push(e));
    llm.on('request', (s) => outcomes.push(s.outcome));
    await request(url).post('/complete').set('x-tenant', 'sk-secret-tenant').send(ask());
    await request(url).post('/complete').set('x-tenant', 'sk-secret-tenant').send(ask());
    expect(seen).toEqual([expect.objectContaining({ limit: 'requests', fleet: false, retryAfterS: expect.any(Number), tenantId: expect.any(String) })]);
    expect(JSON.stringify(seen)).not.toContain('sk-secret-tenant');
    expect(outcomes).toEqual(['success', 'rejected']);
  });
});

describe('metrics', () => {
  it('llm_tenant_limited_total counts refusals by limit, with no tenant label', async () => {
    const { url, llm } = await start({ tenantLimits: { requestsPerMinute: 1 } });
    const registry = new Registry();
    const off = registerMetrics(registry, llm);
    await request(url).post('/complete').set('x-tenant', 'acme-secret').send(ask());
    await request(url).post('/complete').set('x-tenant', 'acme-secret').send(ask());
    await request(url).post('/complete').set('x-tenant', 'acme-secret').send(ask());
    const text = await registry.metrics();
    off();
    expect(text).toMatch(/llm_tenant_limited_total\{limit="requests"\} 2/);
    expect(text).not.toContain('acme-secret');
  });
});

describe('the tenant key', () => {
  it('an async tenant function fails the request loudly (500) rather than leave every tenant unlimited; no upstream call', async () => {
    const { url } = await start({ tenant: (async () => 'acme') as never, tenantLimits: { requestsPerMinute: 100 } });
    const res = await request(url).post('/complete').send(ask());
    expect(res.status).toBe(500);
    expect(fake.stats().requests).toBe(0);
  });

  it('the engine takes the tenant in its call context; a number is its decimal text', async () => {
    const engine = createEngine({ models: models(), cache: false, tenantLimits: { requestsPerMinute: 1 } });
    extra.push(engine);
    await engine.complete(ask() as never, { tenant: 7 as never });
    await expect(engine.complete(ask() as never, { tenant: '7' })).rejects.toMatchObject({ code: 'TENANT_RATE_LIMITED', limit: 'requests', retryAfterS: expect.any(Number) });
    await expect(engine.complete(ask() as never, { tenant: '8' })).resolves.toMatchObject({ model: 'primary' });
    await expect(engine.complete(ask() as never)).resolves.toMatchObject({ model: 'primary' }); // no tenant
  });

  it('the middlewares on their own: fallbackMiddleware takes the scope of cacheMiddleware as the tenant', async () => {
    const cache = cacheMiddleware({ cache: { scope: (ctx) => ctx.get('x-org') } });
    const fallback = fallbackMiddleware({ models: models(), tenantLimits: { requestsPerMinute: 1 } });
    extra.push(cache, fallback);
    const koa = new Koa();
    koa.use(cache).use(fallback);
    koa.use(async (ctx) => {
      ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as never);
    });
    const l = await listen(koa);
    extra.push(l);
    expect((await request(l.url).post('/').set('x-org', 'a').send(ask())).status).toBe(200);
    expect((await request(l.url).post('/').set('x-org', 'a').send(ask())).status).toBe(429);
    expect((await request(l.url).post('/').set('x-org', 'b').send(ask())).status).toBe(200);
  });
});

describe('tokens per minute and USD per day', () => {
  it('refuses a tenant whose tokens are used up, with the -tokens headers; a cache hit costs no tokens', async () => {
    // the prompt is ~10 tokens, maxTokens 40: about 50 a request against 120 a minute
    const { url } = await start({ cache: {}, tenantLimits: { tokensPerMinute: 120 } });
    const same = ask('cached question', { maxTokens: 40 });
    for (let i = 0; i < 4; i++) expect((await request(url).post('/complete').set('x-tenant', 'acme').send(same)).status).toBe(200);
    expect(fake.stats().requests).toBe(1); // the three hits gave their estimate back
    // what was used (the fake's short answer), not the estimate, stays counted: ~20 of 120
    expect((await request(url).post('/complete').set('x-tenant', 'acme').send(ask('x', { maxTokens: 60 }))).status).toBe(200);
    const refused = await request(url).post('/complete').set('x-tenant', 'acme').send(ask('y', { maxTokens: 100 }));
    expect(refused.status).toBe(429);
    expect(refused.body.error.limit).toBe('tokens');
    expect(refused.headers['x-ratelimit-limit-tokens']).toBe('120');
    expect(Number(refused.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(100);
    expect(Number(refused.headers['x-ratelimit-remaining-tokens'])).toBeGreaterThan(20);
    expect(refused.headers['x-ratelimit-limit-requests']).toBeUndefined();
    expect((await request(url).post('/complete').set('x-tenant', 'globex').send(ask('z', { maxTokens: 100 }))).status).toBe(200);
  });

  it('refuses a tenant whose daily USD is spent (priced models), with a day-long Retry-After at most; the app-wide budget still applies to all', async () => {
    const priced = models().map((m) => ({ ...m, price: { inputPerMTok: 1000, outputPerMTok: 1000 } }));
    // each call: ~(10 + 80) tokens × $0.001 = ~$0.09 estimated, ~$0.02 really used: $0.1 a day lets one through
    app = await startApp({ models: priced, cache: false, tenant: tenantHeader, tenantLimits: { usdPerDay: 0.1 }, budget: { usdPerDay: 100 } });
    const { url } = app;
    const first = await request(url).post('/complete').set('x-tenant', 'acme').send(ask(undefined, { maxTokens: 80 }));
    expect(first.status).toBe(200);
    expect(first.body.usage.costUsd).toBeGreaterThan(0.005);
    const refused = await request(url).post('/complete').set('x-tenant', 'acme').send(ask(undefined, { maxTokens: 80 }));
    expect(refused.status).toBe(429);
    expect(refused.body.error.limit).toBe('usd');
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(86_400);
    expect((await request(url).post('/complete').set('x-tenant', 'globex').send(ask(undefined, { maxTokens: 80 }))).status).toBe(200);
  });
});

describe('streams', () => {
  let listening: Listening | undefined;
  afterEach(async () => {
    await listening?.close();
    listening = undefined;
  });

  it('ctx.llm.sse of a tenant over its limit is a 429 before any byte, with no upstream call', async () => {
    const llm: LlmResilienceMiddleware = llmResilience({ models: models(), cache: false, tenant: tenantHeader, tenantLimits: { requestsPerMinute: 1 } });
    extra.push(llm);
    const koa = new Koa();
    koa.use(llm);
    koa.use(async (ctx) => {
      await ctx.llm.sse((await readJson(ctx.req)) as never);
    });
    listening = await listen(koa);
    const first = await request(listening.url).post('/').set('x-tenant', 'acme').send(ask());
    expect(first.status).toBe(200);
    expect(first.text).toContain('event: done');
    const upstream = fake.stats().requests;
    const second = await request(listening.url).post('/').set('x-tenant', 'acme').send(ask());
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBeDefined();
    expect(fake.stats().requests).toBe(upstream);
    expect((await request(listening.url).post('/').set('x-tenant', 'other').send(ask())).status).toBe(200);
  });
});

