import { isAllModelsFailedError } from '../errors/all-models-failed-error';
import { isRequestAbortedError } from '../errors/request-aborted-error';
import { isRequestError } from '../errors/request-error';
import { isStreamInterruptedError } from '../errors/stream-interrupted-error';
import { isTenantLimitError } from '../errors/tenant-limit-error';
import { rateLimitHeaders } from './rate-limit-headers';

/** How an HTTP adapter answers one of our errors that a route did not catch. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  /** JSON, or null for a client that is gone (nobody reads it). */
  body: unknown;
}

/**
 * The answer to our own errors; null for anything else (the framework handles it). Bodies carry only our own
 * messages: never a stack, a provider body or a key.
 */
export function errorAnswer(err: unknown): ErrorAnswer | null {
  if (isAllModelsFailedError(err)) {
    return {
      status: 503,
      headers: { 'Retry-After': String(err.retryAfterS) },
      body: { error: { type: 'all_models_failed', message: err.message, attempts: err.attempts.map((a) => ({ model: a.model, outcome: a.outcome })) } },
    };
  }
  if (isTenantLimitError(err)) {
    return { status: 429, headers: rateLimitHeaders(err), body: { error: { type: 'tenant_rate_limited', code: err.code, limit: err.limit, message: err.message, retryAfterS: err.retryAfterS } } };
  }
  if (isRequestError(err)) {
    return { status: err.status, headers: {}, body: { error: { type: 'invalid_request', code: err.code, message: err.message, details: err.details } } };
  }
  if (isStreamInterruptedError(err)) {
    // Only reachable when a route streams by hand and lets it escape before sending anything.
    return { status: 502, headers: {}, body: { error: { type: 'stream_interrupted', message: err.message, attempts: err.attempts.map((a) => ({ model: a.model, outcome: a.outcome })) } } };
  }
  if (isRequestAbortedError(err)) return { status: err.status, headers: {}, body: null };
  return null;
}
