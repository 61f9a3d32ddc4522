import type { AttemptOutcome } from '../../types';

/**
 * How one attempt on one model ended, as a tagged union: every way the README's table "What happens to each
 * failure" lists is one `kind`. What each kind causes is decided once, in `OUTCOME_TABLE`.
 */
export type AttemptKind =
  /** An answer that passed its checks, ended by the model itself (`finish_reason: 'stop'`). */
  | { kind: 'answered' }
  /** An answer that passed its checks but did not end on its own (a cut the request accepted). */
  | { kind: 'answered_cut' }
  /** A 5xx (or any status no other kind takes), a connection that failed or closed early, a body that is not JSON. */
  | { kind: 'provider_error'; status?: number }
  /** 401 / 403 / 404: the endpoint refused the key, or does not know the model. */
  | { kind: 'access_refused'; status: number }
  /** An answer arrived but is unusable, and the provider alone made it so (see `INVALID_REASONS`). */
  | { kind: 'invalid_answer'; reason: InvalidReason }
  /** An answer arrived but is unusable for what this request asked (see `INVALID_REASONS`). */
  | { kind: 'invalid_for_request'; reason: InvalidReason }
  /** The request's `validate` hook had not settled when the attempt's time ran out. */
  | { kind: 'validate_timeout' }
  /** No answer within the attempt's timeout. */
  | { kind: 'timeout' }
  /** No answer within a time limit the request set itself (its `timeoutMs`, its deadline), below the model's usual time. */
  | { kind: 'timeout_by_request' }
  /** 429. */
  | { kind: 'rate_limited'; status: number; retryAfterMs?: number }
  /** A 400 saying the prompt does not fit the model's context window. */
  | { kind: 'context_exceeded'; status: number }
  /** 400 / 413 / 422 (other than the context length): the request itself is bad. */
  | { kind: 'rejected_request'; status: number }
  /** Cancelled by the library: a hedged model answered first. */
  | { kind: 'hedge_lost' }
  /** The caller's signal fired, or its HTTP client disconnected. */
  | { kind: 'caller_gone' }
  /** Skipped, or rejected by the breaker: the model's breaker is open (or another process probes it). */
  | { kind: 'circuit_open' }
  /** Skipped: the model is in a 429 cool-down. */
  | { kind: 'cooling_down' }
  /** Skipped: the prompt plus `maxTokens` does not fit the model's `contextWindow`. */
  | { kind: 'skipped_context' }
  /** Skipped: the model already has `maxConcurrent` calls in flight. */
  | { kind: 'overloaded' }
  /** Skipped: the call's estimated cost would exceed the budget or the request's `maxCostUsd`. */
  | { kind: 'over_budget' };

export type AttemptKindName = AttemptKind['kind'];

/** The kinds that are not a success. */
export type FailureKind = Exclude<AttemptKind, { kind: 'answered' | 'answered_cut' }>;

/** What one kind of attempt causes. */
export interface OutcomeConsequences {
  /** The attempt's recorded `outcome` (in `attempts`, the `attempt` event, metrics). */
  readonly outcome: AttemptOutcome;
  /**
   * Whether the chain goes on to the next model: `'no'` ends the request (with the answer, the caller's
   * `RequestError` 400, or `RequestAbortedError`); `'moot'` when another model's answer is already used.
   */
  readonly nextModel: 'yes' | 'no' | 'moot';
  /** Counted as a failure by the model's breaker. `false`: counted as a success (an answer) or not at all. */
  readonly breakerFailure: boolean;
  /**
   * The attempt says nothing about the model either way, and why: `false` when it does. A half-open probe that
   * ends so gives its slot back (the breaker stays half-open). `'caller_gone'` also stops the whole chain.
   */
  readonly provesNothing: false | 'caller_gone' | 'cancelled' | 'request_limit';
  /** Puts the model in cool-down (for the provider's `retry-after`, else `rateLimit.defaultCooldownMs`). */
  readonly coolDown: boolean;
  /** Later models whose `contextWindow` is not larger are skipped for this request. */
  readonly learnsContextWindow: boolean;
  /** A call reached the provider (false: skipped with `latencyMs: 0`, or rejected by the breaker). */
  readonly upstreamCalled: boolean;
  /** The answer is cached (only complete, successful answers are). */
  readonly cacheable: boolean;
}

const NONE = { provesNothing: false, coolDown: false, learnsContextWindow: false, cacheable: false } as const;
const SKIP = { ...NONE, nextModel: 'yes', breakerFailure: false, upstreamCalled: false } as const;
const FAILED = { ...NONE, nextModel: 'yes', breakerFailure: true, upstreamCalled: true } as const;
const NOT_COUNTED = { ...NONE, nextModel: 'yes', breakerFailure: false, upstreamCalled: true } as const;
const row = (c: OutcomeConsequences): OutcomeConsequences => Object.freeze(c);

/**
 * The one table of what each kind of attempt causes. `classifyError` and the invalid-answer reasons derive their
 * `FailureClass` from it (`failureClass`), and the README's table "What happens to each failure" states it row for
 * row (a test reads both).
 */
export const OUTCOME_TABLE: { readonly [K in AttemptKindName]: OutcomeConsequences } = Object.freeze({
  answered: row({ ...NONE, outcome: 'success', nextModel: 'no', breakerFailure: false, upstreamCalled: true, cacheable: true }),
  answered_cut: row({ ...NONE, outcome: 'success', nextModel: 'no', breakerFailure: false, upstreamCalled: true }),
  provider_error: row({ ...FAILED, outcome: 'error' }),
  access_refused: row({ ...FAILED, outcome: 'error' }),
  invalid_answer: row({ ...FAILED, outcome: 'invalid' }),
  invalid_for_request: row({ ...NOT_COUNTED, outcome: 'invalid' }),
  validate_timeout: row({ ...NOT_COUNTED, outcome: 'timeout' }),
  timeout: row({ ...FAILED, outcome: 'timeout' }),
  timeout_by_request: row({ ...NOT_COUNTED, outcome: 'timeout', provesNothing: 'request_limit' }),
  rate_limited: row({ ...NOT_COUNTED, outcome: 'rate_limited', coolDown: true }),
  context_exceeded: row({ ...NOT_COUNTED, outcome: 'error', learnsContextWindow: true }),
  rejected_request: row({ ...NOT_COUNTED, outcome: 'error', nextModel: 'no' }),
  hedge_lost: row({ ...NOT_COUNTED, outcome: 'cancelled', nextModel: 'moot', provesNothing: 'cancelled' }),
  caller_gone: row({ ...NOT_COUNTED, outcome: 'cancelled', nextModel: 'no', provesNothing: 'caller_gone' }),
  circuit_open: row({ ...SKIP, outcome: 'circuit_open' }),
  cooling_down: row({ ...SKIP, outcome: 'rate_limited' }),
  skipped_context: row({ ...SKIP, outcome: 'skipped_context' }),
  overloaded: row({ ...SKIP, outcome: 'overloaded' }),
  over_budget: row({ ...SKIP, outcome: 'over_budget' }),
});

/**
 * Why an answer that arrived was not used, and which kind of failure that is: whether it is evidence against
 * the provider is the kind's (see `OUTCOME_TABLE`). Adding a reason is one line here.
 *
 * One breaker per model is shared by every request of the app, so only what the provider alone decided may
 * count toward it (`invalid_answer`). What a single request controls (its prompt, `maxTokens`, `stop`, `schema`,
 * `validate` hook) must not (`invalid_for_request`): a client that sends `max_tokens: 1`, a schema no model can
 * meet or a hook that rejects everything would otherwise open the breaker and take the model out for every
 * tenant. Such an answer is still `invalid` (the next model is tried, nothing is cached), but it is not counted at
 * all: neither as a failure nor as a success, exactly as a 429 is not. On a half-open breaker the probe that got
 * one reached a working provider, so it closes the breaker (see `ModelBreaker`).
 */
export const INVALID_REASON_KINDS = Object.freeze({
  /** Not a completion: not an object, no choices, no text content, a stream chunk that is not JSON. */
  malformed: 'invalid_answer',
  /** Empty (or blank) content with a finish reason that does not explain it. */
  empty: 'invalid_answer',
  /** A stream that ended without a finish reason. */
  incomplete_stream: 'invalid_answer',
  /** Cut by the token limit (`finish_reason: 'length'`) where that is not accepted: the prompt and limits are the caller's. */
  truncated: 'invalid_for_request',
  /** Empty content ended by a `stop` sequence of the request. */
  stopped_empty: 'invalid_for_request',
  /** Withheld by the provider's content filter: the prompt induced it. */
  content_filter: 'invalid_for_request',
  /** Not JSON, for a request with a `schema`. */
  not_json: 'invalid_for_request',
  /** JSON that does not match the request's `schema`. */
  schema_mismatch: 'invalid_for_request',
  /** The request's `validate` hook returned something other than `true`. */
  validate_rejected: 'invalid_for_request',
  /** The request's `validate` hook threw. */
  validate_threw: 'invalid_for_request',
  /**
   * A tool call naming a tool the request did not offer. Not counted: a prompt can talk a model into it (a tool
   * named in the conversation, an instruction to call one), so one request could otherwise open the breaker.
   */
  unknown_tool: 'invalid_for_request',
  /** A tool call whose arguments are not a JSON object (not counted, for the same reason). */
  tool_arguments_not_json: 'invalid_for_request',
  /** A tool call whose arguments do not match that tool's `parameters` (the request's schema). */
  tool_arguments_mismatch: 'invalid_for_request',
  /** `toolChoice: 'required'` or a named function answered otherwise (prose, or another tool); `'none'` answered with a call. */
  tool_choice_ignored: 'invalid_for_request',
  /** A refusal, with `onRefusal: 'fallback'`: the prompt is the request's. */
  refusal: 'invalid_for_request',
  /** The request's `validate` hook did not settle within the attempt's time (the attempt's outcome is `timeout`). */
  validate_timeout: 'validate_timeout',
} as const satisfies Record<string, 'invalid_answer' | 'invalid_for_request' | 'validate_timeout'>);

export type InvalidReason = keyof typeof INVALID_REASON_KINDS;

/** The failure an unusable answer is, by its reason. */
export function invalidFailure(reason: InvalidReason): Extract<FailureKind, { kind: 'invalid_answer' | 'invalid_for_request' | 'validate_timeout' }> {
  const kind = INVALID_REASON_KINDS[reason];
  return kind === 'validate_timeout' ? { kind } : { kind, reason };
}

const ANSWERED = Object.freeze({ kind: 'answered' as const });
const ANSWERED_CUT = Object.freeze({ kind: 'answered_cut' as const });

/** The kind of a successful attempt, by the finish reason of its answer: only an answer the model ended is cached. */
export function answeredKind(finishReason: string | null | undefined): Extract<AttemptKind, { kind: 'answered' | 'answered_cut' }> {
  return finishReason === 'stop' ? ANSWERED : ANSWERED_CUT;
}
