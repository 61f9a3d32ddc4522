import fc from 'fast-check';
import { ConfigError, llmResilience } from '../../lib';
import { MAX_ATTEMPT_TIMEOUT_MS, optionsSchema } from '../../lib/core/options/options-schema';
import { type ResolvableOptions, resolveOptions } from '../../lib/core/options/resolve-options';
import { MAX_TIMER_MS } from '../../lib/core/timer-delay';
import type { LlmResilienceOptions } from '../../lib/koa/types';

/** Values of every JSON-ish kind, plus the odd ones a JS caller can pass. */
const weird = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(undefined, null, NaN, Infinity, -1, 0, 1.5, '', 'x', true, [], {}, () => 1),
);

/** Mostly a valid value, sometimes something odd: so both outcomes are explored. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 30 }, { arbitrary: weird, weight: 1 });

const modelArb = fc.record(
  {
    name: mostly(fc.string({ minLength: 1, maxLength: 8 })),
    model: mostly(fc.constantFrom('gpt-4o', 'gpt-4o-mini', 'o3', 'gpt-4.1', 'gpt-5')),
    baseURL: fc.oneof(mostly(fc.constant('http://127.0.0.1:9/v1')), fc.constantFrom('not a url', 'ftp://x')),
    apiKey: mostly(fc.constant('sk-prop-SECRET')),
    timeoutMs: mostly(fc.integer({ min: 1, max: 10_000 })),
    contextWindow: mostly(fc.integer({ min: 1, max: 200_000 })),
    maxOutputTokens: mostly(fc.integer({ min: 1, max: 10_000 })),
    price: mostly(fc.record({ inputPerMTok: fc.double({ min: 0, max: 100, noNaN: true }), outputPerMTok: fc.double({ min: 0, max: 100, noNaN: true }) })),
  },
  { requiredKeys: ['model', 'apiKey'] },
);

const breakerArb = fc.record(
  {
    errorThresholdPercentage: mostly(fc.integer({ min: 0, max: 100 })),
    volumeThreshold: mostly(fc.integer({ min: 0, max: 20 })),
    rollingWindowMs: mostly(fc.integer({ min: 10, max: 20_000 })),
    resetTimeoutMs: mostly(fc.integer({ min: 1, max: 100_000 })),
  },
  { requiredKeys: [] },
);
const cacheArb = fc.oneof(
  fc.constant(false as const),
  fc.record({ max: mostly(fc.integer({ min: 1, max: 10 })), ttlMs: mostly(fc.integer({ min: 1, max: 1e6 })), scope: mostly(fc.constant(() => 't')) }, { requiredKeys: [] }),
);
const optionsArb = fc.record(
  {
    models: mostly(fc.array(modelArb, { minLength: 1, maxLength: 3 })),
    breaker: mostly(breakerArb),
    cache: mostly(cacheArb),
    maxPromptChars: mostly(fc.integer({ min: 1, max: 100 })),
    extra: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, { arbitrary: weird, weight: 1 }),
  },
  { requiredKeys: ['models', 'extra'] },
);

describe('arbitrary options', () => {
  it('give a working middleware or a ConfigError that never echoes the key', () => {
    let built = 0;
    let rejected = 0;
    fc.assert(
      fc.property(mostly(optionsArb), (options) => {
        let mw: ReturnType<typeof llmResilience> | undefined;
        try {
          mw = llmResilience(options as LlmResilienceOptions);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const e = err as ConfigError;
          expect(e.problems.length).toBeGreaterThan(0);
          expect(e.message).not.toContain('sk-prop-SECRET');
          rejected++;
          return;
        }
        // A middleware that was created works: status() is sane and close() releases it.
        const s = mw.status();
        expect(s.models.length).toBeGreaterThan(0);
        for (const m of s.models) expect(m.state).toBe('closed');
        void mw.close();
        built++;
      }),
      { numRuns: 400 },
    );
    // both outcomes were exercised
    expect(built).toBeGreaterThan(5);
    expect(rejected).toBeGreaterThan(5);
  });

  it('__proto__ and constructor keys change nothing and pollute nothing', () => {
    const polluted = JSON.parse('{"models":[{"model":"m","apiKey":"k","__proto__":{"timeoutMs":1}}],"__proto__":{"cache":false},"constructor":{"x":1}}');
    expect(() => llmResilience(polluted)).toThrow(ConfigError);
    expect(({} as Record<string, unknown>).timeoutMs).toBeUndefined();
    expect(({} as Record<string, unknown>).cache).toBeUndefined();
  });
});

/** Every duration option, where it goes in the options, and its bounds (inclusive). */
const BASE_MODEL = { model: 'm', apiKey: 'k' };
const DURATIONS: readonly { path: string; min: number; max: number; options: (v: unknown) => Record<string, unknown> }[] = [
  { path: '/models/0/timeoutMs', min: 1, max: MAX_ATTEMPT_TIMEOUT_MS, options: (v) => ({ models: [{ ...BASE_MODEL, timeoutMs: v }] }) },
  { path: '/models/0/firstTokenTimeoutMs', min: 1, max: MAX_ATTEMPT_TIMEOUT_MS, options: (v) => ({ models: [{ ...BASE_MODEL, firstTokenTimeoutMs: v }] }) },
  { path: '/models/0/idleTimeoutMs', min: 1, max: MAX_ATTEMPT_TIMEOUT_MS, options: (v) => ({ models: [{ ...BASE_MODEL, idleTimeoutMs: v }] }) },
  { path: '/breaker/rollingWindowMs', min: 10, max: MAX_TIMER_MS, options: (v) => ({ breaker: { rollingWindowMs: v } }) },
  { path: '/breaker/resetTimeoutMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ breaker: { resetTimeoutMs: v } }) },
  { path: '/retry/baseDelayMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ retry: { baseDelayMs: v } }) },
  { path: '/retry/maxDelayMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ retry: { maxDelayMs: v } }) },
  { path: '/retry/maxRetryAfterMs', min: 0, max: MAX_TIMER_MS, options: (v) => ({ retry: { maxRetryAfterMs: v } }) },
  { path: '/retry/budgetWindowMs', min: 100, max: MAX_TIMER_MS, options: (v) => ({ retry: { budgetWindowMs: v } }) },
  { path: '/cache/ttlMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ cache: { ttlMs: v } }) },
  { path: '/cache/fallbackTtlMs', min: 0, max: MAX_TIMER_MS, options: (v) => ({ cache: { fallbackTtlMs: v } }) },
  { path: '/cache/lockWaitMs', min: 0, max: MAX_TIMER_MS, options: (v) => ({ cache: { lockWaitMs: v } }) },
  { path: '/cache/semantic/timeoutMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ cache: { semantic: { embeddingModel: 'e', apiKey: 'k', timeoutMs: v } } }) },
  { path: '/deadlineMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ deadlineMs: v }) },
  { path: '/adaptiveTimeout/minTimeoutMs', min: 1, max: MAX_TIMER_MS, options: (v) => ({ adaptiveTimeout: { minTimeoutMs: v } }) },
  { path: '/rateLimit/defaultCooldownMs', min: 0, max: MAX_TIMER_MS, options: (v) => ({ rateLimit: { defaultCooldownMs: v, maxCooldownMs: MAX_TIMER_MS } }) },
  { path: '/rateLimit/maxCooldownMs', min: 0, max: MAX_TIMER_MS, options: (v) => ({ rateLimit: { maxCooldownMs: v, defaultCooldownMs: 0 } }) },
];

/** The paths of every `…Ms` field of a JSON schema (array items as `0`), with the field's own schema. */
function msFields(schema: unknown, path = ''): { path: string; schema: Record<string, unknown> }[] {
  const s = schema as Record<string, unknown>;
  const out: { path: string; schema: Record<string, unknown> }[] = [];
  for (const branch of (s.anyOf as unknown[] | undefined) ?? []) out.push(...msFields(branch, path));
  if (s.items) out.push(...msFields(s.items, `${path}/0`));
  for (const [k, v] of Object.entries((s.properties as Record<string, unknown> | undefined) ?? {})) {
    if (/Ms$/.test(k)) out.push({ path: `${path}/${k}`, schema: v as Record<string, unknown> });
    else out.push(...msFields(v, `${path}/${k}`));
  }
  return out;
}

describe('duration options', () => {
  it('every …Ms option of the schema is an integer bounded by the longest Node timer, and is listed here', () => {
    const fields = msFields(optionsSchema);
    for (const f of fields) {
      expect({ path: f.path, type: f.schema.type }).toEqual({ path: f.path, type: 'integer' });
      expect(f.schema.maximum as number).toBeLessThanOrEqual(MAX_TIMER_MS);
    }
    expect(fields.map((f) => f.path).sort()).toEqual(DURATIONS.map((d) => d.path).sort());
  });

  it.each(DURATIONS.map((d) => [d.path, d] as const))('%s takes every integer in its bounds', (_path, d) => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(d.min, d.max), fc.integer({ min: d.min, max: d.max })), (v) => {
        expect(() => resolveOptions(d.options(v) as ResolvableOptions, { modelsRequired: false })).not.toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it.each(DURATIONS.map((d) => [d.path, d] as const))('%s refuses anything else with a ConfigError naming it', (_path, d) => {
    const outOfRange = fc.oneof(
      fc.integer({ min: d.max + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(d.max + 1, 2 ** 31, 2 ** 32, 1e21, Number.MAX_SAFE_INTEGER, d.min - 1, -1, 0.5 + d.min, NaN, Infinity, -Infinity, '1000', null, true, {}),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: d.min - 1 }),
      fc.double({ min: d.min, max: d.max, noInteger: true }),
    );
    fc.assert(
      fc.property(outOfRange, (v) => {
        let err: unknown;
        try {
          resolveOptions(d.options(v) as ResolvableOptions, { modelsRequired: false });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.map((p) => p.path)).toContain(d.path);
      }),
      { numRuns: 60 },
    );
  });
});
