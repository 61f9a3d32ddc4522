import { INVALID_REASON_KINDS, type InvalidReason, OUTCOME_TABLE } from '../fallback/outcome-table';

export type { InvalidReason };

/**
 * Why an answer that arrived was not used, and whether that is evidence against the provider: derived from
 * `INVALID_REASON_KINDS` (each reason's kind) and `OUTCOME_TABLE` (what the kind does to the model's breaker),
 * where a reason is added. See `INVALID_REASON_KINDS` for why only what the provider alone decided counts.
 */
export const INVALID_REASONS = Object.freeze(
  Object.fromEntries(
    (Object.keys(INVALID_REASON_KINDS) as InvalidReason[]).map((r) => [r, Object.freeze({ countsTowardBreaker: OUTCOME_TABLE[INVALID_REASON_KINDS[r]].breakerFailure })]),
  ) as { readonly [R in InvalidReason]: { readonly countsTowardBreaker: boolean } },
);

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
