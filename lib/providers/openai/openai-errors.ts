import { UpstreamAbortError, UpstreamConnectionError, UpstreamHttpError } from '../../core/upstream/upstream-errors';
import { openaiSdk } from './openai-sdk';

/**
 * What the openai SDK threw, as the failure `classifyError` reads (see `upstream-errors.ts`):
 * - an HTTP error status (`APIError` and its subclasses): `UpstreamHttpError` with the status, the answer's
 *   headers (`retry-after`, `retry-after-ms`, `x-ratelimit-reset-*`: the 429 cool-down), and the body's `code`,
 *   `type` and message (read for context-length words, never copied);
 * - `APIConnectionError` (refused, reset, name lookup) and `APIConnectionTimeoutError`: `UpstreamConnectionError`;
 * - `APIUserAbortError` (the SDK's signal fired, but not by our timer nor the caller): `UpstreamAbortError`.
 * Anything else is passed on as it is: a body that is not JSON (`SyntaxError`), a body cut short (undici's
 * errors, `TypeError('terminated')`), an `InvalidAnswerError`.
 */
export function openaiFailure(err: unknown): unknown {
  if (err === null || typeof err !== 'object') return err;
  const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = openaiSdk();
  if (!(err instanceof APIError)) return err;
  if (err instanceof APIUserAbortError) return new UpstreamAbortError({ cause: err });
  if (err instanceof APIConnectionError) {
    return new UpstreamConnectionError({ timedOut: err instanceof APIConnectionTimeoutError || err.message.includes('timed out'), cause: err });
  }
  if (typeof err.status !== 'number') return err;
  return new UpstreamHttpError(err.message, { status: err.status, headers: err.headers ?? undefined, code: err.code, type: err.type, cause: err });
}
