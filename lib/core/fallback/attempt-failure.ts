import { RequestError } from '../../errors/request-error';
import type { AttemptOutcome } from '../../types';

/** How a failed attempt is treated. */
export interface FailureClass {
  outcome: AttemptOutcome;
  /** Counts toward the model's breaker. */
  countsAsFailure: boolean;
  /** The chain moves on to the next model (false: the caller's fault, fail fast). */
  fallThrough: boolean;
  /** The caller cancelled: stop the whole chain, count nothing. */
  callerAborted: boolean;
  /** We cancelled it (a hedge that lost the race): count nothing, the chain goes on. */
  cancelled?: boolean;
  /**
   * No answer came, but only because the request gave the attempt less time than the model's own timeout (its
   * `timeoutMs`, or what was left of its deadline): counted neither way on a closed breaker, and a failure for a
   * half-open probe (it proved nothing), as a cancellation.
   */
  provedNothing?: boolean;
  status?: number;
  /** Short and secret-free: never the provider's body. */
  message: string;
  /** For 429s: how long the provider asked us to wait. */
  retryAfterMs?: number;
}

/** Internal: thrown by one attempt so the breaker's error filter and the chain can read its class. */
export class AttemptFailure extends Error {
  constructor(readonly failure: FailureClass, options?: { cause?: unknown }) {
    super(failure.message, options);
    this.name = 'AttemptFailure';
  }
}

/**
 * The caller's 400 when a provider rejects the request itself (400/413/422 other than context length): nothing
 * else is tried. Names the model and the status; the provider's own words are not copied (they may echo the
 * request), so the attempt's record says where to look.
 */
export function rejectedRequest(model: string, f: FailureClass): RequestError {
  const status = f.status !== undefined ? ` (HTTP ${f.status})` : '';
  return new RequestError(`Model "${model}" rejected the request as invalid${status}; no other model was tried`, [f.message], { code: 'UPSTREAM_REJECTED_REQUEST' });
}
