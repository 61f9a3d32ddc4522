import type { ParameterizedContext } from 'koa';
import { isAllModelsFailedError } from '../errors/all-models-failed-error';
import { isRequestAbortedError } from '../errors/request-aborted-error';
import { isRequestError } from '../errors/request-error';
import { isStreamInterruptedError } from '../errors/stream-interrupted-error';

/**
 * Answers our own errors that a route did not catch. Returns false for anything else (Koa handles it).
 * Bodies carry only our own messages: never a stack, a provider body or a key.
 */
export function respondWithError(ctx: ParameterizedContext, err: unknown): boolean {
  if (isAllModelsFailedError(err)) {
    ctx.status = 503;
    ctx.set('Retry-After', String(err.retryAfterS));
    ctx.body = {
      error: {
        type: 'all_models_failed',
        message: err.message,
        attempts: err.attempts.map((a) => ({ model: a.model, outcome: a.outcome })),
      },
    };
    return true;
  }
  if (isRequestError(err)) {
    ctx.status = err.status;
    ctx.body = { error: { type: 'invalid_request', code: err.code, message: err.message, details: err.details } };
    return true;
  }
  if (isStreamInterruptedError(err)) {
    // Only reachable when a route streams by hand and lets it escape before sending anything.
    ctx.status = 502;
    ctx.body = { error: { type: 'stream_interrupted', message: err.message, attempts: err.attempts.map((a) => ({ model: a.model, outcome: a.outcome })) } };
    return true;
  }
  if (isRequestAbortedError(err)) {
    // The client is gone; nobody reads this.
    ctx.status = err.status;
    ctx.body = null;
    return true;
  }
  return false;
}
