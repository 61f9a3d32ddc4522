import { RequestError } from '../../errors/request-error';
import type { AttemptOutcome } from '../../types';
import { type FailureKind, OUTCOME_TABLE } from './outcome-table';

/** How a failed attempt is treated: what `OUTCOME_TABLE` says of its kind (see `failureClass`). */
export interface FailureClass {
  /** Which kind of failure it is (see `OUTCOME_TABLE`), when made by `failureClass`: the fields below follow from it. */
  kind?: FailureKind['kind'];
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
   * `timeoutMs`, or what was left of its deadline): counted neither way, as a cancellation; a half-open probe
   * that ends so gives its slot back (the breaker stays half-open).
   */
  provedNothing?: boolean;
  status?: number;
  /**
   * The provider failed this once, before any answer: a 5xx, a connection refused or reset, a body cut short. A
   * same-model retry may succeed (see `retry`); a timeout is never transient (retrying a slow provider adds load).
   */
  transient?: boolean;
  /** Short and secret-free: never the provider's body. */
  message: string;
  /** For 429s: how long the provider asked us to wait. */
  retryAfterMs?: number;
}

/**
 * A failure of `kind`, treated as `OUTCOME_TABLE` says: the one way a `FailureClass` is made. `message` is short
 * and secret-free (never the provider's body).
 */
export function failureClass(failure: FailureKind, message: string): FailureClass {
  const c = OUTCOME_TABLE[failure.kind];
  const f: FailureClass = {
    kind: failure.kind,
    outcome: c.outcome,
    countsAsFailure: c.breakerFailure,
    fallThrough: c.nextModel !== 'no',
    callerAborted: c.provesNothing === 'caller_gone',
    message,
  };
  if (c.provesNothing === 'cancelled') f.cancelled = true;
  if (c.provesNothing === 'request_limit') f.provedNothing = true;
  if ('status' in failure && failure.status !== undefined) f.status = failure.status;
  if (failure.kind === 'rate_limited') f.retryAfterMs = failure.retryAfterMs;
  return f;
}

/** What the chain learns from a failure (see `OUTCOME_TABLE`): whether it starts a cool-down, whether it rules out smaller context windows. */
export function lessonsOf(f: FailureClass): { coolDown: boolean; learnsContextWindow: boolean } {
  if (f.kind === undefined) return { coolDown: f.outcome === 'rate_limited', learnsContextWindow: false };
  const c = OUTCOME_TABLE[f.kind];
  return { coolDown: c.coolDown, learnsContextWindow: c.learnsContextWindow };
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
