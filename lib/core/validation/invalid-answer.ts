/**
 * Why an answer that arrived was not used, and whether that is evidence against the provider. This table is the
 * one place that decides what an unusable answer does to the model's breaker.
 *
 * One breaker per model is shared by every request of the app, so only what the provider alone decided may
 * count toward it. What a single request controls (its prompt, `maxTokens`, `stop`, `schema`, `validate` hook)
 * must not: a client that sends `max_tokens: 1`, a schema no model can meet or a hook that rejects everything
 * would otherwise open the breaker and take the model out for every tenant. Such an answer is still `invalid`
 * (the next model is tried, nothing is cached), but it is not counted at all: neither as a failure nor as a
 * success, exactly as a 429 is not. On a half-open breaker the probe that got one reached a working provider, so
 * it closes the breaker (see `ModelBreaker`).
 */
export const INVALID_REASONS = {
  /** Not a completion: not an object, no choices, no text content, a stream chunk that is not JSON. */
  malformed: { countsTowardBreaker: true },
  /** Empty (or blank) content with a finish reason that does not explain it. */
  empty: { countsTowardBreaker: true },
  /** A stream that ended without a finish reason. */
  incomplete_stream: { countsTowardBreaker: true },
  /** Cut by the token limit (`finish_reason: 'length'`) where that is not accepted: the prompt and limits are the caller's. */
  truncated: { countsTowardBreaker: false },
  /** Empty content ended by a `stop` sequence of the request. */
  stopped_empty: { countsTowardBreaker: false },
  /** Withheld by the provider's content filter: the prompt induced it. */
  content_filter: { countsTowardBreaker: false },
  /** Not JSON, for a request with a `schema`. */
  not_json: { countsTowardBreaker: false },
  /** JSON that does not match the request's `schema`. */
  schema_mismatch: { countsTowardBreaker: false },
  /** The request's `validate` hook returned something other than `true`. */
  validate_rejected: { countsTowardBreaker: false },
  /** The request's `validate` hook threw. */
  validate_threw: { countsTowardBreaker: false },
  /** The request's `validate` hook did not settle within the attempt's time (the attempt's outcome is `timeout`). */
  validate_timeout: { countsTowardBreaker: false },
} as const satisfies Record<string, { countsTowardBreaker: boolean }>;

export type InvalidReason = keyof typeof INVALID_REASONS;

/** Whether an answer unusable for `reason` counts as a failure of the model (see `INVALID_REASONS`). */
export function countsTowardBreaker(reason: InvalidReason): boolean {
  return INVALID_REASONS[reason].countsTowardBreaker;
}

/** An answer arrived but is unusable: the attempt is `invalid` (the next model is tried, nothing is cached). */
export class InvalidAnswerError extends Error {
  /** `reason`: why (it decides whether the breaker counts it). Default: `malformed`, the provider's doing. */
  constructor(
    message: string,
    readonly reason: InvalidReason = 'malformed',
  ) {
    super(message);
    this.name = 'InvalidAnswerError';
  }
}
