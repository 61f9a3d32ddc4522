/**
 * Durations at the edge of what a Node timer takes (2^31-1 ms): valid ones work and never fire early, longer ones are
 * refused by name, and no run emits a `TimeoutOverflowWarning` (Node's sign that a timer was cut to 1 ms).
 */
import fc from 'fast-check';
import { createEngine, RequestError } from '../../lib';
import { DeadlineQueue, type DeadlineEntry } from '../../lib/core/deadline-queue';
import { MAX_TIMER_MS, timerDelay } from '../../lib/core/timer-delay';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { LlmResilienceOptions } from '../../lib/koa/types';

let fake: FakeLlm;
let warnings: Error[];
const onWarning = (w: Error): void => {
  warnings.push(w);
};
beforeEach(async () => {
  fake = await startFakeLlm();
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(async () => {
  process.off('warning', onWarning);
  await fake.close();
});

/** Warnings are emitted on a later tick: let them arrive, then list the timer ones. */
async function timerWarnings(): Promise<string[]> {
  await new Promise((r) => setImmediate(r));
  return warnings.filter((w) => /Timeout(Overflow|Negative)Warning/.test(w.name)).map((w) => w.message);
}

const models = (): LlmResilienceOptions['models'] => [
  { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k' },
  { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k' },
];

describe('timerDelay', () => {
  it('turns any number into a delay a Node timer takes, never shorter than asked within the limit', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: -10, max: MAX_TIMER_MS }), fc.constantFrom(NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, MAX_TIMER_MS + 0.5)), (ms) => {
        const d = timerDelay(ms);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(1);
        expect(d).toBeLessThanOrEqual(MAX_TIMER_MS);
        if (ms >= 1 && ms <= MAX_TIMER_MS) expect(d).toBe(Math.ceil(ms));
        if (!(ms < MAX_TIMER_MS)) expect(d).toBe(MAX_TIMER_MS);
      }),
      { numRuns: 500 },
    );
  });

  it('a deadline queue given a delay past the limit neither warns nor calls the entry early', async () => {
    const q = new DeadlineQueue();
    const calls: number[] = [];
    const entry: DeadlineEntry = { deadlineSlot: -1, deadlineAt: 0, onDeadline: () => calls.push(1) };
    q.add(entry, 2 ** 40);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toEqual([]);
    q.remove(entry);
    q.close();
    expect(await timerWarnings()).toEqual([]);
  });
});

describe('a request timeout or deadline at the limit', () => {
  it('a stream with the longest valid timeoutMs is not cut at 1 ms; one past it is refused by name', async () => {
    fake.setBehavior('big', { latencyMs: 60, chunkDelayMs: 10, text: 'slow but steady answer' });
    const engine = createEngine({ models: models(), cache: false });
    const r = await engine.stream({ prompt: 'hi', timeoutMs: MAX_TIMER_MS, deadlineMs: MAX_TIMER_MS }).final();
    expect(r).toMatchObject({ model: 'smart', fallback: false, text: 'slow but steady answer' });
    expect(r.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
    const err = await engine.stream({ prompt: 'hi', timeoutMs: 2 ** 31 }).final().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).details).toEqual([`/timeoutMs: must be <= ${MAX_TIMER_MS}`]);
    expect(fake.stats().requests).toBe(1);
    expect(await timerWarnings()).toEqual([]);
    await engine.close();
  });

  it('a cache hit judged by a slow validate hook under the longest valid timeoutMs is served; one past it is refused', async () => {
    const engine = createEngine({ models: models() });
    const q = { prompt: 'cache me', temperature: 0 };
    await engine.complete(q);
    const slowYes = () => new Promise<boolean>((r) => setTimeout(() => r(true), 30));
    const hit = await engine.complete({ ...q, timeoutMs: MAX_TIMER_MS, validate: slowYes });
    expect(hit.cached).toBe(true);
    const streamed = await engine.stream({ ...q, timeoutMs: MAX_TIMER_MS, validate: slowYes }).final();
    expect(streamed.cached).toBe(true);
    await expect(engine.complete({ ...q, timeoutMs: 2 ** 31, validate: slowYes })).rejects.toBeInstanceOf(RequestError);
    expect(fake.stats().requests).toBe(1);
    expect(await timerWarnings()).toEqual([]);
    await engine.close();
  });
});

/** Sets the value at a JSON-pointer-like path of a plain object. */
function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('/').slice(1);
  let o = target as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[keys[keys.length - 1]] = value;
}

describe('every duration option at its longest', () => {
  it('builds, answers, opens a breaker and starts a cool-down from a huge Retry-After without a timer warning; one ms more is refused by name', async () => {
    const longest: LlmResilienceOptions = {
      models: [
        { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 3_600_000, firstTokenTimeoutMs: 3_600_000, idleTimeoutMs: 3_600_000 },
        { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 3_600_000 },
        { name: 'spare', model: 'third', baseURL: fake.url, apiKey: 'k' },
      ],
      breaker: { rollingWindowMs: MAX_TIMER_MS, resetTimeoutMs: MAX_TIMER_MS, volumeThreshold: 1, errorThresholdPercentage: 1 },
      cache: { ttlMs: MAX_TIMER_MS, fallbackTtlMs: MAX_TIMER_MS, lockWaitMs: MAX_TIMER_MS },
      deadlineMs: MAX_TIMER_MS,
      adaptiveTimeout: { minTimeoutMs: MAX_TIMER_MS, minSamples: 1 },
      rateLimit: { defaultCooldownMs: MAX_TIMER_MS, maxCooldownMs: MAX_TIMER_MS },
    };
    for (const path of ['/models/0/timeoutMs', '/models/0/idleTimeoutMs', '/breaker/resetTimeoutMs', '/breaker/rollingWindowMs', '/cache/ttlMs', '/cache/lockWaitMs', '/deadlineMs', '/adaptiveTimeout/minTimeoutMs', '/rateLimit/maxCooldownMs']) {
      const over = structuredClone(longest);
      setAt(over as unknown as Record<string, unknown>, path, path.startsWith('/models') ? 3_600_001 : MAX_TIMER_MS + 1);
      expect(() => createEngine(over)).toThrow(new RegExp(`${path}: must be <=`));
    }
    const engine = createEngine(longest);
    fake.setBehavior('big', { mode: 'error' });
    // a provider asking for a wait of about 31 years
    fake.setBehavior('small', { mode: 'rate_limit', retryAfterS: 1e9 });
    const r = await engine.complete({ prompt: 'one', cache: false });
    expect(r.model).toBe('spare');
    expect(r.attempts.map((a) => a.outcome)).toEqual(['error', 'rate_limited', 'success']);
    const s = await engine.stream({ prompt: 'two', cache: false }).final();
    expect(s.model).toBe('spare');
    expect(engine.status().models.find((x) => x.name === 'smart')?.state).toBe('open');
    // the adaptive timeout (learned from one sample, floored at the limit) stays the model's own
    fake.setBehavior('third', { latencyMs: 40 });
    expect((await engine.complete({ prompt: 'three', models: ['spare'], cache: false })).model).toBe('spare');
    expect(await timerWarnings()).toEqual([]);
    await engine.close();
  });
});
