import { ProviderError } from '../../core/provider/chat-provider';
import { anthropicSdk } from './anthropic-sdk';

/** The status an error's `type` stands for, for an error Anthropic sends inside a 200 stream (no HTTP status). */
const STATUS_OF_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** Words of a 400 that says the prompt does not fit the model's window (Anthropic: "prompt is too long: N tokens > M maximum"). */
const CONTEXT_LENGTH = /prompt is too long|input is too long|exceeds? the (?:model's )?context window|context window exceeded/i;

/**
 * What the SDK threw, as the failure the library reads (see `ChatProvider`):
 * - an HTTP error (`APIError` with a status): a `ProviderError` with that status. 529 (`overloaded_error`) is a
 *   5xx like any other; a 429 carries the wait Anthropic asked for; a 400 saying the prompt is too long has
 *   `code: 'context_length_exceeded'` (a model with a larger window may take it); 401/403 stay as they are.
 * - an error event inside a 200 stream (the SDK's `APIError` without a status): a `ProviderError` with the status
 *   its `type` stands for (`overloaded_error`: 529), so a stream that failed mid-answer is a failure of the model.
 * - a connection that failed (refused, reset, cut mid-stream, the SDK's own timeout backstop): a plain `Error`
 *   (an `error` outcome).
 * - an abort (the call's signal fired): rethrown as it is, so the library sees its own abort.
 * Anything else (a body that is not JSON, a body cut short) is passed on as it is.
 */
export function anthropicFailure(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted || err === null || typeof err !== 'object') return err;
  const { APIConnectionError, APIError, APIUserAbortError } = anthropicSdk();
  if (!(err instanceof APIError) || err instanceof APIUserAbortError) return err;
  if (err instanceof APIConnectionError) return new Error(`Anthropic connection failed: ${err.message}`, { cause: err });
  const type = typeof err.type === 'string' ? err.type : undefined;
  const status = typeof err.status === 'number' ? err.status : (type !== undefined ? STATUS_OF_TYPE[type] : undefined) ?? 500;
  const apiMessage = typeof err.apiMessage === 'string' ? err.apiMessage : err.message;
  const inStream = typeof err.status !== 'number';
  const message = `Anthropic ${inStream ? 'stream error' : `HTTP ${status}`}${type ? ` (${type})` : ''}: ${apiMessage}`;
  const code = status === 400 && CONTEXT_LENGTH.test(apiMessage) ? 'context_length_exceeded' : (type ?? undefined);
  const retryAfterMs = status === 429 ? anthropicRetryAfterMs(err.headers) : undefined;
  return new ProviderError(message, { status, code, retryAfterMs, cause: err });
}

/** The rate limits Anthropic reports, each with `anthropic-ratelimit-<limit>-remaining` and `-reset`. */
const LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;

/**
 * How long a 429 asks to wait: `retry-after` (seconds, or an HTTP date), else the `anthropic-ratelimit-*-reset`
 * times (RFC 3339). A limit whose `-remaining` count is known and above zero was not the one hit and is left out
 * (its reset says nothing about when the exhausted one refills); of the others the latest reset counts, since
 * the next request needs every exhausted limit back. Undefined when nothing usable was sent (the library's
 * default cool-down applies).
 */
export function anthropicRetryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ra = headers.get('retry-after');
  if (ra !== null && ra.trim() !== '') {
    const s = Number(ra);
    if (Number.isFinite(s) && s >= 0) return s * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  let hit: number | undefined;
  let any: number | undefined;
  for (const limit of LIMITS) {
    const reset = headers.get(`anthropic-ratelimit-${limit}-reset`);
    const at = reset === null ? NaN : Date.parse(reset);
    if (Number.isNaN(at)) continue;
    const wait = Math.max(0, at - now);
    any = Math.min(any ?? Infinity, wait);
    const left = headers.get(`anthropic-ratelimit-${limit}-remaining`);
    const notHit = left !== null && left.trim() !== '' && Number(left) > 0;
    if (!notHit) hit = Math.max(hit ?? 0, wait);
  }
  return hit ?? any;
}

/** A request this provider cannot express in the Messages API (audio input, a file by id, …): the caller's 400. */
export function unsupportedContent(what: string): ProviderError {
  return new ProviderError(`The Anthropic provider cannot send ${what}`, { status: 400, code: 'unsupported_content' });
}
