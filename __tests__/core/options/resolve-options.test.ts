import { ConfigError, llmResilience } from '../../../lib';
import { resolveOptions } from '../../../lib/core/options/resolve-options';
import type { LlmResilienceOptions } from '../../../lib/koa/types';

const model = { model: 'gpt-4o', apiKey: 'sk-live-SECRET-abc', baseURL: 'http://127.0.0.1:9/v1' };

describe('resolveOptions', () => {
  it('fills every documented default', () => {
    const r = resolveOptions({ models: [model] });
    expect(r.models[0]).toMatchObject({ name: 'gpt-4o', model: 'gpt-4o', timeoutMs: 2000 });
    expect(r.breaker).toEqual({ errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000, consecutiveFailures: 5 });
    expect(r.retry).toEqual({ maxRetries: 1, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 3000, budgetRatio: 0.1, budgetMinRetries: 3, budgetWindowMs: 10_000 });
    expect(r.rescue).toEqual({ afterPercentile: 99, minSamples: 20, maxExtraLoad: 0.02 });
    expect(r.cache).toMatchObject({ max: 1000, ttlMs: 600_000, fallbackTtlMs: 30_000 });
    expect(r.rateLimit).toEqual({ defaultCooldownMs: 1000, maxCooldownMs: 60_000 });
  });

  it('treats undefined members as not given (regression: `breaker: undefined` was "must be object")', () => {
    const r = resolveOptions({ models: [model], breaker: undefined, cache: undefined, rateLimit: { maxCooldownMs: undefined } });
    expect(r.breaker.resetTimeoutMs).toBe(60_000);
    expect(r.cache).not.toBe(false);
    expect(r.rateLimit.maxCooldownMs).toBe(60_000);
  });

  it('keeps explicit zeros (no `||` defaults)', () => {
    const r = resolveOptions({ models: [model], breaker: { volumeThreshold: 0, errorThresholdPercentage: 0 }, cache: { fallbackTtlMs: 0 } });
    expect(r.breaker.volumeThreshold).toBe(0);
    expect(r.breaker.errorThresholdPercentage).toBe(0);
    expect(r.cache && r.cache.fallbackTtlMs).toBe(0);
  });

  it('lists every problem with its path, in one error', () => {
    const bad = {
      models: [{ model: '', timeoutMs: -5, apiKey: 'sk-live-SECRET-abc' }, { name: 'x', model: 'm', price: { inputPerMTok: 'a' } }],
      breaker: { errorThresholdPercentage: 150, resetTimeoutMs: 'soon' },
      cache: { max: 0 },
      retries: 3,
    } as unknown as LlmResilienceOptions;
    let err: unknown;
    try {
      resolveOptions(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.code).toBe('CONFIG_INVALID');
    const paths = e.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/models/0/model',
        '/models/0/timeoutMs',
        '/models/1/price/outputPerMTok',
        '/models/1/price/inputPerMTok',
        '/breaker/errorThresholdPercentage',
        '/breaker/resetTimeoutMs',
        '/cache/max',
        '/retries',
      ]),
    );
    for (const p of paths) expect(e.message).toContain(p);
    expect(e.message).not.toContain('SECRET');
  });

  it('rejects duplicate names, a bad baseURL and a non-function scope', () => {
    expect(() =>
      resolveOptions({
        models: [model, { ...model, baseURL: 'ftp://x' }],
        cache: { scope: 'tenant' as never },
      }),
    ).toThrow(/\/models\/1\/name[\s\S]*\/models\/1\/baseURL[\s\S]*\/cache\/scope/);
  });

  it('rejects a baseURL with credentials in it (fetch would refuse it on every call), without echoing them', () => {
    const withCredentials = 'https://user:sk-live-SECRET-xyz@llm.example.com/v1';
    let e: unknown;
    try {
      resolveOptions({ models: [{ ...model, baseURL: withCredentials }], cache: { semantic: { embeddingModel: 'text-embedding-3-small', baseURL: withCredentials, apiKey: 'k' } } });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).problems.map((p) => p.path)).toEqual(['/models/0/baseURL', '/cache/semantic/baseURL']);
    expect((e as Error).message).toMatch(/must not hold credentials/);
    expect(JSON.stringify(e) + String((e as Error).stack)).not.toContain('SECRET');
  });

  it('bounds cache.max, which lru-cache allocates at once (regression: 2^31 - 1, found by the options property test, ended the process out of memory)', () => {
    expect(() => resolveOptions({ models: [model], cache: { max: 2 ** 31 - 1 } })).toThrow(/\/cache\/max: must be <= 1000000/);
    expect(resolveOptions({ models: [model], cache: { max: 1_000_000 } }).cache).toMatchObject({ max: 1_000_000 });
  });

  it('requires models, and at least one', () => {
    expect(() => resolveOptions({} as LlmResilienceOptions)).toThrow(/\/models: is required/);
    expect(() => resolveOptions({ models: [] })).toThrow(/\/models/);
    expect(() => resolveOptions(null as unknown as LlmResilienceOptions)).toThrow(ConfigError);
  });

  it('never mutates the caller\'s object and freezes the result', () => {
    const input: LlmResilienceOptions = { models: [{ ...model }], breaker: {}, cache: {} };
    const before = JSON.stringify(input);
    const r = resolveOptions(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r.models[0])).toBe(true);
    expect(Object.isFrozen(r.breaker)).toBe(true);
  });

  it('llmResilience throws ConfigError at start-up, and names a missing API key without a value', () => {
    expect(() => llmResilience({ models: [{ model: 'x', timeoutMs: 0 }] })).toThrow(ConfigError);
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      expect(() => llmResilience({ models: [{ model: 'x', baseURL: 'http://127.0.0.1:9/v1' }] })).toThrow(/\/models\/0\/apiKey/);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});
