import fc from 'fast-check';
import { ConfigError, llmResilience } from '../../lib';
import type { LlmResilienceOptions } from '../../lib/types';

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
