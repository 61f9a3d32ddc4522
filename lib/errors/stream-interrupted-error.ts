import type { AttemptRecord } from '../types';
import { LlmResilienceError } from './llm-resilience-error';

/**
 * A stream failed after its first token was sent, and was not (or could not be) continued by another model.
 * The client has part of an answer: it must be told, never shown a clean end.
 */
export class StreamInterruptedError extends LlmResilienceError {
  readonly code = 'STREAM_INTERRUPTED';
  readonly status = 502;
  readonly expose = true;
  readonly attempts: readonly AttemptRecord[];
  /** Characters already delivered to the client. */
  readonly deliveredChars: number;

  /** `reason`: why no other model continued the answer, when that is not the last attempt's failure alone. */
  constructor(attempts: readonly AttemptRecord[], deliveredChars: number, reason?: string) {
    const last = attempts[attempts.length - 1];
    super(`The stream was interrupted after ${deliveredChars} characters${last ? `: ${last.model} (${last.outcome})` : ''}${reason ? `; ${reason}` : ''}`);
    this.attempts = attempts;
    this.deliveredChars = deliveredChars;
  }
}

export function isStreamInterruptedError(err: unknown): err is StreamInterruptedError {
  return err instanceof StreamInterruptedError;
}
