import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import type { AttemptRecord } from '../../types';
import { contextLengthError } from '../context/context-verdict';
import type { EventBus } from '../events/event-bus';
import type { ResolvedModel } from '../options/resolve-options';
import { type FailureClass, rejectedRequest } from './attempt-failure';
import { sameModel } from './deployment-order';

/** The message of an attempt cancelled because its caller went away (signal fired, client disconnected). */
export const CALLER_GONE = 'the caller went away';

/** What the chain learns from a failed attempt (429 cool-downs, context windows), per walk. */
export type WalkState = { tooLongFor: number | undefined };

/** The attempts of one request, as they are recorded: the list its result or error carries, and the events. */
export class AttemptLog {
  constructor(readonly events: EventBus) {}

  record(attempts: AttemptRecord[], requestId: string, record: AttemptRecord): void {
    attempts.push(record);
    if (this.events.has('attempt')) this.events.emit('attempt', { ...record, requestId, index: attempts.length - 1 });
  }

  fallback(requestId: string, from: ResolvedModel, to: ResolvedModel | undefined, reason: AttemptRecord['outcome']): void {
    if (!to || !this.events.has('fallback')) return;
    // to another deployment of the same model: said, so that it is not taken for a fall back to another model
    if (sameModel(from, to)) this.events.emit('fallback', { requestId, from: from.name, to: to.name, reason, sameModel: true });
    else this.events.emit('fallback', { requestId, from: from.name, to: to.name, reason });
  }

  /**
   * A failed attempt, for `complete()` and streams alike: recorded, then judged. Throws `RequestAbortedError` when
   * the caller left, and the caller's 400 when the provider rejected the request itself and `rejectable` (a stream
   * whose answer has started treats that as any interruption); returns when the walk goes on.
   */
  failed(
    attempts: AttemptRecord[],
    requestId: string,
    model: ResolvedModel,
    f: FailureClass,
    latencyMs: number,
    how: { error: unknown; hedged?: boolean; deadlineBound?: boolean; rejectable: boolean; retry?: number; rescue?: boolean },
  ): void {
    if (f.callerAborted) {
      this.record(attempts, requestId, withHedged({ model: model.name, outcome: 'cancelled', latencyMs, message: CALLER_GONE }, how));
      throw new RequestAbortedError('The request was cancelled', { cause: how.error, attempts });
    }
    const message = f.outcome === 'timeout' && how.deadlineBound ? 'deadline reached' : f.message;
    const record = withHedged({ model: model.name, outcome: f.outcome, latencyMs, message }, how);
    if (f.status !== undefined) record.status = f.status;
    this.record(attempts, requestId, record);
    if (!f.fallThrough && how.rejectable) throw rejectedRequest(model.name, f);
  }
}

/** The record with how its attempt was started: as a hedge, a retry of the same model, a rescue. */
export function withHedged(record: AttemptRecord, how: { hedged?: boolean; retry?: number; rescue?: boolean }): AttemptRecord {
  if (how.hedged) record.hedged = true;
  if (how.retry) record.retry = how.retry;
  if (how.rescue) record.rescue = true;
  return record;
}

/**
 * How a walk that found no answer ends: the caller's 413 when every model of `walked` was ruled out by the prompt's
 * length (no retry can help), else `AllModelsFailedError` (a 503 with `Retry-After`).
 */
export function walkFailed(walked: readonly ResolvedModel[], attempts: AttemptRecord[], retryAfterS: number, message?: string): Error {
  return contextLengthError(walked, attempts) ?? new AllModelsFailedError(attempts, retryAfterS, message);
}
