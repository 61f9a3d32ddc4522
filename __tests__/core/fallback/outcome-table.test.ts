/**
 * `OUTCOME_TABLE` decides what each kind of attempt causes: the `FailureClass` every failure is made from follows
 * it field by field, every invalid reason has the breaker rule of its kind, the statuses map to their kinds, and
 * an engine's breakers count exactly the kinds the table says they count.
 */
import fc from 'fast-check';
import { createEngine } from '../../../lib';
import { failureClass, lessonsOf } from '../../../lib/core/fallback/attempt-failure';
import { type AttemptKindName, answeredKind, type FailureKind, INVALID_REASON_KINDS, type InvalidReason, OUTCOME_TABLE } from '../../../lib/core/fallback/outcome-table';
import { ProviderError } from '../../../lib/core/provider/chat-provider';
import { classifyError, CONTEXT_LENGTH_EXCEEDED } from '../../../lib/core/upstream/classify-error';
import { countsTowardBreaker, INVALID_REASONS, InvalidAnswerError } from '../../../lib/core/validation/invalid-answer';
import { type MemoryStep, memoryProvider } from '../../../lib/testing/memory-provider';

/** One value of each failure kind. */
const SAMPLES: { readonly [K in FailureKind['kind']]: Extract<FailureKind, { kind: K }> } = {
  provider_error: { kind: 'provider_error', status: 502 },
  access_refused: { kind: 'access_refused', status: 401 },
  invalid_answer: { kind: 'invalid_answer', reason: 'empty' },
  invalid_for_request: { kind: 'invalid_for_request', reason: 'schema_mismatch' },
  validate_timeout: { kind: 'validate_timeout' },
  timeout: { kind: 'timeout' },
  timeout_by_request: { kind: 'timeout_by_request' },
  rate_limited: { kind: 'rate_limited', status: 429, retryAfterMs: 1500 },
  context_exceeded: { kind: 'context_exceeded', status: 400 },
  rejected_request: { kind: 'rejected_request', status: 422 },
  hedge_lost: { kind: 'hedge_lost' },
  caller_gone: { kind: 'caller_gone' },
  circuit_open: { kind: 'circuit_open' },
  cooling_down: { kind: 'cooling_down' },
  skipped_context: { kind: 'skipped_context' },
  overloaded: { kind: 'overloaded' },
  over_budget: { kind: 'over_budget' },
};

const plain = { timedOut: false, callerAborted: false, timeoutMs: 100 };

describe('OUTCOME_TABLE', () => {
  it('has a row for every kind, frozen, and only complete answers are cacheable', () => {
    expect(Object.keys(OUTCOME_TABLE).sort()).toEqual([...Object.keys(SAMPLES), 'answered', 'answered_cut'].sort());
    expect(Object.isFrozen(OUTCOME_TABLE)).toBe(true);
    for (const row of Object.values(OUTCOME_TABLE)) expect(Object.isFrozen(row)).toBe(true);
    expect(Object.entries(OUTCOME_TABLE).filter(([, c]) => c.cacheable).map(([k]) => k)).toEqual(['answered']);
    expect(answeredKind('stop')).toEqual({ kind: 'answered' });
    fc.assert(fc.property(fc.oneof(fc.constantFrom('length', 'content_filter', 'tool_calls', null, undefined), fc.string()), (reason) => reason === 'stop' || answeredKind(reason).kind === 'answered_cut'));
  });

  it.each(Object.values(SAMPLES).map((s) => [s.kind, s] as const))('%s: its FailureClass is what the table says', (_k, sample) => {
    const c = OUTCOME_TABLE[sample.kind];
    const f = failureClass(sample, 'why');
    expect(f).toMatchObject({ kind: sample.kind, outcome: c.outcome, countsAsFailure: c.breakerFailure, fallThrough: c.nextModel !== 'no', message: 'why' });
    expect(f.callerAborted).toBe(c.provesNothing === 'caller_gone');
    expect(f.cancelled === true).toBe(c.provesNothing === 'cancelled');
    expect(f.provedNothing === true).toBe(c.provesNothing === 'request_limit');
    expect(f.status).toBe('status' in sample ? sample.status : undefined);
    expect(f.retryAfterMs).toBe('retryAfterMs' in sample ? sample.retryAfterMs : undefined);
    expect(lessonsOf(f)).toEqual({ coolDown: c.coolDown, learnsContextWindow: c.learnsContextWindow });
  });

  it('every invalid reason counts toward the breaker exactly as its kind does, and classifyError gives that kind', () => {
    for (const reason of Object.keys(INVALID_REASON_KINDS) as InvalidReason[]) {
      const kind = INVALID_REASON_KINDS[reason];
      expect(countsTowardBreaker(reason)).toBe(OUTCOME_TABLE[kind].breakerFailure);
      expect(INVALID_REASONS[reason].countsTowardBreaker).toBe(OUTCOME_TABLE[kind].breakerFailure);
      expect(classifyError(new InvalidAnswerError('unusable', reason), plain)).toMatchObject({ kind, outcome: OUTCOME_TABLE[kind].outcome, countsAsFailure: OUTCOME_TABLE[kind].breakerFailure });
    }
    expect(Object.isFrozen(INVALID_REASONS)).toBe(true);
  });

  it('every HTTP status maps to the kind the README names for it', () => {
    const expected = (status: number): AttemptKindName => {
      if (status === 429) return 'rate_limited';
      if (status === 400 || status === 413 || status === 422) return 'rejected_request';
      if (status === 401 || status === 403 || status === 404) return 'access_refused';
      return 'provider_error';
    };
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        const f = classifyError(new ProviderError('upstream said no', { status }), plain);
        expect(f.kind).toBe(expected(status));
        expect(f.status).toBe(status);
      }),
    );
    expect(classifyError(new ProviderError('too long', { status: 400, code: 'context_length_exceeded' }), plain)).toMatchObject({ kind: 'context_exceeded', message: CONTEXT_LENGTH_EXCEEDED });
    // who ended the attempt decides first, whatever was thrown
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.constantFrom('caller', 'hedge', 'timer'), (status, who) => {
        const ctx = { ...plain, callerAborted: who === 'caller', cancelled: who === 'hedge', timedOut: who === 'timer' };
        const kind = classifyError(new ProviderError('x', { status }), ctx).kind;
        expect(kind).toBe(who === 'caller' ? 'caller_gone' : who === 'hedge' ? 'hedge_lost' : 'timeout');
      }),
    );
  });
});

describe('the breakers count what the table says', () => {
  const cases: [AttemptKindName, MemoryStep, { timeoutMs?: number }?][] = [
    ['provider_error', { kind: 'fail', status: 503 }],
    ['provider_error', { kind: 'throw', message: 'socket hang up' }],
    ['access_refused', { kind: 'fail', status: 403 }],
    ['invalid_answer', { text: '   ' }],
    ['invalid_for_request', { text: 'withheld', finishReason: 'content_filter' }],
    ['timeout', { kind: 'hang' }],
    // the request's own timeout, below the model's 100 ms
    ['timeout_by_request', { kind: 'hang' }, { timeoutMs: 30 }],
    ['rate_limited', { kind: 'fail', status: 429, retryAfterMs: 0 }],
    ['context_exceeded', { kind: 'fail', status: 400, code: 'context_length_exceeded' }],
    ['rejected_request', { kind: 'fail', status: 422 }],
    ['answered', { text: 'fine' }],
  ];

  it.each(cases)('%s (%j): counted by the first model\'s breaker as the table says, and the outcome recorded is the table\'s', async (kind, step, ask = {}) => {
    const first = memoryProvider({ fallback: step });
    const engine = createEngine({
      models: [
        // 100 ms where the kind is a timeout; elsewhere room enough that a stalled event loop (a loaded CI machine)
        // cannot turn an immediate answer or failure (a retried 503 included) into a timeout
        { name: 'first', model: 'm1', provider: first, timeoutMs: kind === 'timeout' || kind === 'timeout_by_request' ? 100 : 5000 },
        { name: 'second', model: 'm2', provider: memoryProvider() },
      ],
      adaptiveTimeout: false,
      cache: false,
      breaker: { volumeThreshold: 1000 },
      rateLimit: { defaultCooldownMs: 0 },
    });
    const outcomes: string[] = [];
    engine.on('attempt', (a) => {
      if (a.model === 'first') outcomes.push(a.outcome);
    });
    let cooldowns = 0;
    engine.on('cooldown', () => cooldowns++);
    try {
      const c = OUTCOME_TABLE[kind];
      for (let i = 0; i < 3; i++) {
        const done = engine.complete({ prompt: `question ${i}`, ...ask });
        if (c.nextModel === 'no' && kind !== 'answered') await expect(done).rejects.toMatchObject({ status: 400 });
        else expect((await done).model).toBe(c.nextModel === 'no' ? 'first' : 'second');
      }
      const status = engine.status().models.find((m) => m.name === 'first');
      const calls = first.calls.length;
      expect(calls).toBeGreaterThan(0);
      expect(outcomes.length).toBeGreaterThan(0);
      for (const o of outcomes) expect(o).toBe(c.outcome);
      expect(status?.failures).toBe(c.breakerFailure ? calls : 0);
      expect(status?.successes).toBe(kind === 'answered' ? calls : 0);
      expect(cooldowns > 0).toBe(c.coolDown);
    } finally {
      await engine.close();
    }
  });
});
