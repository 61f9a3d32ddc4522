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
