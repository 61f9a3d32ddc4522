/**
 * The fallback chain through the public engine, with in-memory providers on jest's fake clock: the order models
 * are tried in, the models skipped without a call (open breaker, cool-down, bulkhead), timeouts that abort the
 * provider's signal at the fake time they are due (fixed and adaptive), the request's deadline, hedging, 429
 * cool-downs, caller faults and context-length failures.
 */
import fc from 'fast-check';
import { AllModelsFailedError, createEngine, RequestError, type LlmEngine, type LlmEventMap, type LlmResilienceOptions } from '../../../lib';
import { memoryProvider } from '../../../lib/testing';
import type { AttemptRecord, CompletionRequest } from '../../../lib/types';
import { drive, expectFakeMs, outcome, useFakeClock, ZERO_DELAY_HOP_MS } from '../../helpers/fake-clock';

let engine: LlmEngine | null = null;

beforeEach(() => useFakeClock());
afterEach(async () => {
  if (engine) await drive(engine.close());
  engine = null;
  jest.useRealTimers();
});

function start(options: LlmResilienceOptions): LlmEngine {
  engine = createEngine({ cache: false, tracing: false, ...options });
  return engine;
}
const ask = (content = 'hello', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content }], ...extra });
const outcomes = (attempts: readonly AttemptRecord[]) => attempts.map((a) => `${a.model}:${a.outcome}`);
/** Records every event of the given names, in order, as `name` plus its payload. */
function record<K extends keyof LlmEventMap>(e: LlmEngine, ...names: K[]): { name: K; payload: LlmEventMap[K] }[] {
  const seen: { name: K; payload: LlmEventMap[K] }[] = [];
  for (const name of names) e.on(name, (payload) => seen.push({ name, payload }));
  return seen;
}
const failure = async (p: Promise<unknown>): Promise<unknown> => {
  const r = await outcome(drive(p));
  if (r.ok) throw new Error('expected the call to fail, it answered');
  return r.error;
};

describe('the order of the chain', () => {
  it('tries each model in order, once, until one answers; fallback events name each step', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const b = memoryProvider({ fallback: { kind: 'throw', message: 'socket hang up' } });
    const c = memoryProvider({ fallback: { text: 'from c' } });
    const d = memoryProvider();
    // the order alone: each model once, no same-model retry of the 500
    const e = start({ models: [{ name: 'a', model: 'a-1', provider: a }, { name: 'b', model: 'b-1', provider: b }, { name: 'c', model: 'c-1', provider: c }, { name: 'd', model: 'd-1', provider: d }], retry: false });
    const events = record(e, 'fallback');
    const r = await drive(e.complete(ask()));
    expect(r).toMatchObject({ text: 'from c', model: 'c', providerModel: 'c-1', fallback: true });
    expect(outcomes(r.attempts)).toEqual(['a:error', 'b:error', 'c:success']);
    expect(r.attempts[0].status).toBe(500);
    expect([a.calls.length, b.calls.length, c.calls.length, d.calls.length]).toEqual([1, 1, 1, 0]);
    expect(events.map((x) => `${x.payload.from}>${x.payload.to}:${x.payload.reason}`)).toEqual(['a>b:error', 'b>c:error']);
  });

  it('a request\'s own `models` is its chain, in its order', async () => {
    const a = memoryProvider();
    const b = memoryProvider({ fallback: { kind: 'fail', status: 503 } });
    const c = memoryProvider();
    // the order alone: no same-model retry of the 503
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }, { name: 'c', model: 'c', provider: c }], retry: false });
    const r = await drive(e.complete(ask('x', { models: ['b', 'c'] })));
    expect(outcomes(r.attempts)).toEqual(['b:error', 'c:success']);
    expect(a.calls).toHaveLength(0);
  });

  it('every model failing is an AllModelsFailedError listing each attempt', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 502 } });
    const b = memoryProvider({ fallback: { kind: 'fail', status: 401 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const err = await failure(e.complete(ask()));
    expect(err).toBeInstanceOf(AllModelsFailedError);
    // the 502 is retried once on the same model; the 401 is not
    expect((err as AllModelsFailedError).attempts.map((x) => `${x.model}:${x.outcome}:${x.retry ?? 0}`)).toEqual(['a:error:0', 'a:error:1', 'b:error:0']);
    expect((err as AllModelsFailedError).status).toBe(503);
  });
});

describe('models skipped without a call', () => {
  it('an open breaker skips its model (circuit_open, 0 ms); after resetTimeoutMs one probe closes it', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const b = memoryProvider({ fallback: { text: 'from b' } });
    const e = start({
      models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }],
      breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 10_000, rollingWindowMs: 60_000 },
    });
    const changes = record(e, 'breaker:open', 'breaker:half_open', 'breaker:close');
    let openedAt = 0;
    e.on('breaker:open', () => (openedAt = Date.now()));
    for (let i = 0; i < 3; i++) await drive(e.complete(ask(`q${i}`)));
    expect(e.status().models[0].state).toBe('open');
    expect(changes.map((c) => c.name)).toEqual(['breaker:open']);
    expect((changes[0].payload as LlmEventMap['breaker:open']).halfOpenAt).toBe(openedAt + 10_000);

    const skipped = await drive(e.complete(ask('while open')));
    expect(skipped.attempts[0]).toMatchObject({ model: 'a', outcome: 'circuit_open', latencyMs: 0 });
    expect(skipped.model).toBe('b');
    expect(a.calls).toHaveLength(3);

    a.setFallback({ text: 'a is back' });
    await jest.advanceTimersByTimeAsync(openedAt + 9_990 - Date.now());
    expect(e.status().models[0].state).toBe('open');
    await drive(e.complete(ask('still open')));
    expect(a.calls).toHaveLength(3);
    await jest.advanceTimersByTimeAsync(10);
    expect(e.status().models[0].state).toBe('half_open');
    const probe = await drive(e.complete(ask('probe')));
    expect(probe).toMatchObject({ model: 'a', text: 'a is back', fallback: false });
    expect(a.calls).toHaveLength(4);
    expect(e.status().models[0].state).toBe('closed');
    expect(changes.map((c) => c.name)).toEqual(['breaker:open', 'breaker:half_open', 'breaker:close']);
  });

  it('a half-open probe that fails re-opens the breaker; concurrent requests keep falling back meanwhile', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const b = memoryProvider();
    const e = start({
      models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }],
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 1_000, rollingWindowMs: 60_000 },
      // the probe alone: one call per request (no same-model retry) and no rescue by b beside the probe
      retry: false,
      rescue: false,
    });
    for (let i = 0; i < 2; i++) await drive(e.complete(ask(`q${i}`)));
    expect(e.status().models[0].state).toBe('open');
    await jest.advanceTimersByTimeAsync(1_000);
    a.setFallback({ kind: 'fail', status: 500, latencyMs: 100 });
    const probe = e.complete(ask('probe'));
    const other = e.complete(ask('other'));
    const [p, o] = await drive(Promise.all([probe, other]));
    expect(outcomes(p.attempts)).toEqual(['a:error', 'b:success']);
    expect(outcomes(o.attempts)).toEqual(['a:circuit_open', 'b:success']);
    expect(a.calls).toHaveLength(3);
    expect(e.status().models[0].state).toBe('open');
  });

  it('a half-open probe its caller cancels proves nothing: the breaker stays half-open and the next request probes', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const e = start({
      models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }],
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 1_000, rollingWindowMs: 60_000 },
      // the probe alone: one call per request (no same-model retry) and no rescue by b answering for the probe
      retry: false,
      rescue: false,
    });
    for (let i = 0; i < 2; i++) await drive(e.complete(ask(`q${i}`)));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(e.status().models[0].state).toBe('half_open');
    a.setFallback({ kind: 'hang' });
    const ac = new AbortController();
    const probe = outcome(e.complete(ask('probe'), { signal: ac.signal }));
    await jest.advanceTimersByTimeAsync(20);
    ac.abort();
    expect((await drive(probe)).ok).toBe(false);
    expect(a.calls[2].aborted).toBe(true);
    expect(e.status().models[0].state).toBe('half_open');
    a.setFallback({ text: 'a is back' });
    expect(await drive(e.complete(ask('next probe')))).toMatchObject({ model: 'a', text: 'a is back' });
    expect(e.status().models[0].state).toBe('closed');
  });

  it('a 429 with retryAfterMs cools the model down for exactly that long: skipped with no call, then called again', async () => {
    const a = memoryProvider({ steps: [{ kind: 'fail', status: 429, retryAfterMs: 5_000 }], fallback: { text: 'a again' } });
    const b = memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const cooldowns = record(e, 'cooldown');
    const t0 = Date.now();
    const limited = await drive(e.complete(ask('a')));
    expect(outcomes(limited.attempts)).toEqual(['a:rate_limited', 'b:success']);
    expect(limited.attempts[0].status).toBe(429);
    expect(cooldowns.map((c) => c.payload)).toEqual([{ model: 'a', ms: 5_000, until: t0 + 5_000 }]);
    expect(e.status().models[0]).toMatchObject({ cooldownUntil: t0 + 5_000, state: 'closed', failures: 0 });

    await jest.advanceTimersByTimeAsync(4_990);
    const skipped = await drive(e.complete(ask('b')));
    expect(skipped.attempts[0]).toMatchObject({ model: 'a', outcome: 'rate_limited', latencyMs: 0 });
    expect(a.calls).toHaveLength(1);

    await jest.advanceTimersByTimeAsync(10);
    const back = await drive(e.complete(ask('c')));
    expect(back).toMatchObject({ model: 'a', text: 'a again' });
    expect(a.calls).toHaveLength(2);
  });

  it.each([
    ['over rateLimit.maxCooldownMs: capped', { status: 429, retryAfterMs: 600_000 }, 2_000],
    ['with no retryAfterMs: rateLimit.defaultCooldownMs', { status: 429 }, 700],
  ] as const)('a 429 %s', async (_label, step, expectedMs) => {
    const a = memoryProvider({ steps: [{ kind: 'fail', ...step }] });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }], rateLimit: { maxCooldownMs: 2_000, defaultCooldownMs: 700 } });
    const cooldowns = record(e, 'cooldown');
    await drive(e.complete(ask()));
    expect(cooldowns.map((c) => c.payload.ms)).toEqual([expectedMs]);
    await jest.advanceTimersByTimeAsync(expectedMs - 10);
    await drive(e.complete(ask('during')));
    expect(a.calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(10);
    await drive(e.complete(ask('after')));
    expect(a.calls).toHaveLength(2);
  });

  it('429s never count toward the breaker, however many', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 429, retryAfterMs: 1 } });
    // one call per request: no same-model retry after the 1 ms retry-after
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }], breaker: { volumeThreshold: 2, rollingWindowMs: 60_000 }, retry: false });
    for (let i = 0; i < 5; i++) {
      await drive(e.complete(ask(`q${i}`)));
      await jest.advanceTimersByTimeAsync(5);
    }
    expect(a.calls).toHaveLength(5);
    expect(e.status().models[0]).toMatchObject({ state: 'closed', failures: 0, successes: 0 });
  });

  it('a model with maxConcurrent calls in flight is skipped at once (overloaded), without a call', async () => {
    const a = memoryProvider({ fallback: { text: 'slow a', latencyMs: 1_000 } });
    const b = memoryProvider({ fallback: { text: 'b' } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a, maxConcurrent: 1 }, { name: 'b', model: 'b', provider: b }] });
    const first = e.complete(ask('one'));
    await jest.advanceTimersByTimeAsync(0);
    expect(e.status().models[0].inFlight).toBe(1);
    const t0 = Date.now();
    const second = await drive(e.complete(ask('two')));
    expect(Date.now() - t0).toBe(0);
    expect(second.attempts[0]).toMatchObject({ model: 'a', outcome: 'overloaded', latencyMs: 0 });
    expect(second.model).toBe('b');
    expect(a.calls).toHaveLength(1);
    expect((await drive(first)).model).toBe('a');
    expect(e.status().models[0].inFlight).toBe(0);
  });
});

describe('timeouts abort the provider\'s signal when they are due', () => {
  it('fixed: not at timeoutMs − 1, at timeoutMs; the next model answers at once', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const b = memoryProvider({ fallback: { text: 'from b' } });
    const e = start({ adaptiveTimeout: false, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 300 }, { name: 'b', model: 'b', provider: b }] });
    const t0 = Date.now();
    let done = false;
    const p = e.complete(ask()).finally(() => (done = true));
    await jest.advanceTimersByTimeAsync(299);
    expect(a.calls[0]).toMatchObject({ state: 'running', aborted: false });
    expect(b.calls).toHaveLength(0);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1 + ZERO_DELAY_HOP_MS); // the abort follows the due timer by one setImmediate
    expect(a.calls[0]).toMatchObject({ state: 'aborted', aborted: true });
    const r = await drive(p);
    expectFakeMs(Date.now() - t0, 300);
    expect(outcomes(r.attempts)).toEqual(['a:timeout', 'b:success']);
    expectFakeMs(r.attempts[0].latencyMs, 300);
    expect(e.status().models[0].failures).toBe(1);
  });

  it('a request\'s own timeoutMs replaces the model\'s', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const e = start({ adaptiveTimeout: false, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 5_000 }, { name: 'b', model: 'b', provider: memoryProvider() }] });
    const t0 = Date.now();
    const r = await drive(e.complete(ask('x', { timeoutMs: 120 })));
    expectFakeMs(Date.now() - t0, 120);
    expect(a.calls[0].aborted).toBe(true);
    expect(outcomes(r.attempts)).toEqual(['a:timeout', 'b:success']);
  });

  it('adaptive: after minSamples successes the timeout is p95 × 1.5 (rounded up to 10 ms), and aborts then', async () => {
    const a = memoryProvider({ fallback: { text: 'a', latencyMs: 100 } });
    const b = memoryProvider({ fallback: { text: 'b' } });
    const e = start({ adaptiveTimeout: { minSamples: 5 }, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 2_000 }, { name: 'b', model: 'b', provider: b }] });
    expect(e.status().models[0].timeoutMs).toBe(2_000);
    for (let i = 0; i < 5; i++) expect((await drive(e.complete(ask(`warm ${i}`)))).model).toBe('a');
    expect(e.status().models[0].latency['*']).toMatchObject({ samples: 5, p95: 100 });
    expect(e.status().models[0].timeoutMs).toBe(150);

    a.setFallback({ kind: 'hang' });
    const t0 = Date.now();
    const p = e.complete(ask('slow now'));
    await jest.advanceTimersByTimeAsync(149);
    expect(a.calls[5]).toMatchObject({ state: 'running', aborted: false });
    await jest.advanceTimersByTimeAsync(1 + ZERO_DELAY_HOP_MS);
    expect(a.calls[5]).toMatchObject({ state: 'aborted', aborted: true });
    const r = await drive(p);
    expectFakeMs(Date.now() - t0, 150);
    expect(outcomes(r.attempts)).toEqual(['a:timeout', 'b:success']);
  });

  it('adaptive: the last model of the chain keeps its full timeoutMs', async () => {
    const a = memoryProvider({ fallback: { text: 'a', latencyMs: 100 } });
    const e = start({ adaptiveTimeout: { minSamples: 5 }, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 2_000 }, { name: 'b', model: 'b', provider: memoryProvider() }] });
    for (let i = 0; i < 5; i++) await drive(e.complete(ask(`warm ${i}`)));
    a.setFallback({ text: 'slow but there', latencyMs: 1_500 });
    const t0 = Date.now();
    const r = await drive(e.complete(ask('only a', { models: ['a'] })));
    expect(r).toMatchObject({ model: 'a', text: 'slow but there' });
    expect(Date.now() - t0).toBe(1_500);
  });

  it('the deadline bounds the whole chain: the attempt running gets what is left, later models are not started', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const b = memoryProvider({ fallback: { kind: 'hang' } });
    const c = memoryProvider();
    const e = start({
      adaptiveTimeout: false,
      deadlineMs: 500,
      models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 400 }, { name: 'b', model: 'b', provider: b, timeoutMs: 400 }, { name: 'c', model: 'c', provider: c }],
    });
    const t0 = Date.now();
    const p = e.complete(ask());
    await jest.advanceTimersByTimeAsync(399);
    expect(a.calls[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1 + ZERO_DELAY_HOP_MS);
    expect(a.calls[0].aborted).toBe(true);
    expect(b.calls[0]).toMatchObject({ state: 'running' });
    await jest.advanceTimersByTimeAsync(t0 + 499 - Date.now());
    expect(b.calls[0].aborted).toBe(false);
    const err = await failure(p);
    expectFakeMs(Date.now() - t0, 500);
    expect(b.calls[0].aborted).toBe(true);
    expect(c.calls).toHaveLength(0);
    expect(err).toBeInstanceOf(AllModelsFailedError);
    const attempts = (err as AllModelsFailedError).attempts;
    expect(outcomes(attempts)).toEqual(['a:timeout', 'b:timeout']);
    expect(attempts[1].message).toMatch(/deadline reached/);
  });

  it('a request\'s own deadline, shorter than the app\'s, is not counted against the model', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const e = start({ adaptiveTimeout: false, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 1_000 }, { name: 'b', model: 'b', provider: memoryProvider() }] });
    const err = await failure(e.complete(ask('x', { deadlineMs: 200 })));
    expect(err).toBeInstanceOf(AllModelsFailedError);
    expect(a.calls[0].aborted).toBe(true);
    expect(e.status().models[0].failures).toBe(0);
  });
});

describe('hedged requests', () => {
  it('a primary slower than its p95 gets the next model started in parallel; the first answer wins, the loser is aborted', async () => {
    const a = memoryProvider({ fallback: { text: 'a', latencyMs: 100 } });
    const b = memoryProvider({ fallback: { text: 'from b', latencyMs: 20 } });
    const e = start({
      adaptiveTimeout: false,
      hedge: { minSamples: 5, maxExtraLoad: 1, afterPercentile: 95 },
      models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }],
    });
    for (let i = 0; i < 5; i++) expect((await drive(e.complete(ask(`warm ${i}`)))).hedged).toBe(false);
    expect(b.calls).toHaveLength(0);

    const hedges = record(e, 'hedge');
    a.setFallback({ text: 'a, late', latencyMs: 1_000 });
    const t0 = Date.now();
    const p = e.complete(ask('slow'));
    await jest.advanceTimersByTimeAsync(99);
    expect(b.calls).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(b.calls).toHaveLength(1);
    expect(hedges.map((h) => ({ from: h.payload.from, to: h.payload.to, afterMs: h.payload.afterMs }))).toEqual([{ from: 'a', to: 'b', afterMs: 100 }]);
    const r = await drive(p);
    expectFakeMs(Date.now() - t0, 120);
    expect(r).toMatchObject({ model: 'b', text: 'from b', hedged: true });
    expect(r.attempts.find((x) => x.model === 'a')).toMatchObject({ outcome: 'cancelled' });
    expect(r.attempts.find((x) => x.model === 'b')).toMatchObject({ outcome: 'success', hedged: true });
    expect(a.calls[5]).toMatchObject({ aborted: true });
    expect(e.status().models[0].failures).toBe(0);
  });

  it('no hedge before minSamples, nor when the primary answers within its p95', async () => {
    const a = memoryProvider({ fallback: { text: 'a', latencyMs: 100 } });
    const b = memoryProvider();
    const e = start({ adaptiveTimeout: false, hedge: { minSamples: 3, maxExtraLoad: 1 }, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    a.setFallback({ text: 'a', latencyMs: 500 }); // slow, but no samples yet
    expect((await drive(e.complete(ask('first')))).hedged).toBe(false);
    a.setFallback({ text: 'a', latencyMs: 100 });
    for (let i = 0; i < 3; i++) await drive(e.complete(ask(`warm ${i}`)));
    // samples now 500, 100, 100, 100: p95 is 500, and 450 is within it
    a.setFallback({ text: 'a', latencyMs: 450 });
    expect((await drive(e.complete(ask('within p95')))).hedged).toBe(false);
    expect(b.calls).toHaveLength(0);
  });
});

describe('what the provider says decides what happens next', () => {
  it.each([400, 413, 422])('a thrown %i is the caller\'s fault: RequestError 400 at once, nothing else tried, breaker untouched', async (status) => {
    const a = memoryProvider({ fallback: { kind: 'fail', status } });
    const b = memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const err = await failure(e.complete(ask()));
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ status: 400, code: 'UPSTREAM_REJECTED_REQUEST' });
    expect((err as Error).message).not.toMatch(/provider error/);
    expect(b.calls).toHaveLength(0);
    expect(e.status().models[0]).toMatchObject({ failures: 0, successes: 0, state: 'closed' });
  });

  it.each([
    ['code context_length_exceeded', { kind: 'fail', status: 400, code: 'context_length_exceeded' }],
    ['a 400 saying so in words', { kind: 'fail', status: 400, message: "This model's maximum context length is 8192 tokens" }],
  ] as const)('context length exceeded (%s) goes on to a model with a larger window, skipping the ones not larger', async (_label, step) => {
    const a = memoryProvider({ fallback: step });
    const b = memoryProvider();
    const c = memoryProvider({ fallback: { text: 'from the large model' } });
    const e = start({
      models: [
        { name: 'a', model: 'a', provider: a, contextWindow: 8_192 },
        { name: 'b', model: 'b', provider: b, contextWindow: 8_192 },
        { name: 'c', model: 'c', provider: c, contextWindow: 128_000 },
      ],
    });
    const r = await drive(e.complete(ask()));
    expect(r).toMatchObject({ model: 'c', text: 'from the large model' });
    expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'error', message: 'context length exceeded' });
    expect(r.attempts[1]).toMatchObject({ model: 'b', outcome: 'skipped_context', latencyMs: 0 });
    expect(b.calls).toHaveLength(0);
    expect(e.status().models[0].failures).toBe(0);
  });

  it('when every model is ruled out by the prompt\'s length: RequestError 413 CONTEXT_LENGTH_EXCEEDED', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 400, code: 'context_length_exceeded' } });
    const b = memoryProvider({ fallback: { kind: 'fail', status: 400, code: 'context_length_exceeded' } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const err = await failure(e.complete(ask()));
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ status: 413, code: 'CONTEXT_LENGTH_EXCEEDED' });
    expect([a.calls.length, b.calls.length]).toEqual([1, 1]);
  });

  it('5xx, 401 and 403 and plain throws are the model\'s failures: counted by its breaker', async () => {
    const a = memoryProvider({ steps: [{ kind: 'fail', status: 503 }, { kind: 'fail', status: 401 }, { kind: 'fail', status: 403 }, { kind: 'throw' }] });
    // one failure per request: no same-model retry of the 503 or the throw
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }], breaker: { volumeThreshold: 100, rollingWindowMs: 60_000 }, retry: false });
    for (let i = 0; i < 4; i++) expect(outcomes((await drive(e.complete(ask(`q${i}`)))).attempts)).toEqual(['a:error', 'b:success']);
    expect(e.status().models[0].failures).toBe(4);
  });

  it('any 5xx status thrown is the model\'s failure: the next model answers and the breaker counts it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 500, max: 599 }), fc.boolean(), async (status, asProviderError) => {
        const thrower = { complete: async () => Promise.reject(Object.assign(new Error('down'), { status })) };
        const a = asProviderError ? memoryProvider({ fallback: { kind: 'fail', status } }) : thrower;
        // one failure per request: no same-model retry of a transient 5xx
        const e = createEngine({ cache: false, tracing: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }], breaker: { volumeThreshold: 100 }, retry: false });
        try {
          const r = await drive(e.complete(ask()));
          return r.model === 'b' && r.attempts[0].outcome === 'error' && r.attempts[0].status === status && e.status().models[0].failures === 1;
        } finally {
          await drive(e.close());
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a caller that aborts cancels the provider\'s call: RequestAbortedError, nothing else tried, not counted', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const b = memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const ac = new AbortController();
    const p = e.complete(ask(), { signal: ac.signal });
    await jest.advanceTimersByTimeAsync(50);
    ac.abort();
    const err = await failure(p);
    expect(err).toMatchObject({ code: 'REQUEST_ABORTED' });
    expect(a.calls[0].aborted).toBe(true);
    expect(b.calls).toHaveLength(0);
    expect(e.status().models[0].failures).toBe(0);
  });
});
