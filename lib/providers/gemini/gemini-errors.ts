import { ProviderError } from '../../core/provider/chat-provider';
import { geminiSdk } from './gemini-sdk';

/** The error object of a Gemini API error body (`google.rpc.Status` as JSON). */
interface GoogleRpcError {
  code?: unknown;
  message?: unknown;
  status?: unknown;
  details?: unknown;
}

/**
 * What the SDK threw, as the failure the library reads. The SDK's `ApiError` (an HTTP error status, or an error
 * object sent inside a 200 stream) becomes a `ProviderError` with its status, and:
 * - a 429 (`RESOURCE_EXHAUSTED`): `retryAfterMs` from the body's `google.rpc.RetryInfo` (`retryDelay: "1.5s"`): the
 *   SDK keeps no response headers on its errors, so this is the only wait Gemini asks for that reaches us;
 * - a 400 saying the input token count exceeds the maximum: `code: 'context_length_exceeded'` (a model with a larger
 *   window is tried);
 * - a 400 for a key Gemini does not know (`API_KEY_INVALID`): a 401, as every other provider answers it, so that a
 *   wrong key moves on to the next model instead of failing the request as the caller's fault;
 * - otherwise `code` is Gemini's status name (`UNAVAILABLE`, `INTERNAL`, …).
 * Anything else (a connection that failed or was cut, an abort, a body that is not JSON) is passed on as it is: the
 * library reads those itself, and an abort must stay an abort.
 */
export function geminiFailure(err: unknown): unknown {
  if (err === null || typeof err !== 'object') return err;
  // The SDK wraps what fails its `instanceof Error` check (a fetch error made in another realm: a vm context, a test
  // runner's sandbox) as `Error('exception … sending request', { cause })`: the platform's own error is the cause,
  // and an abort or a connection failure must reach the library as it is (it reads them by name and code).
  const wrapped = err as { message?: unknown; cause?: unknown };
  if (typeof wrapped.message === 'string' && /^exception .* sending request$/s.test(wrapped.message) && wrapped.cause !== undefined) return wrapped.cause;
  // by name as well: an SDK loaded twice (two copies in node_modules, a test runner's registry) has two classes
  const isApiError = err instanceof geminiSdk().ApiError || (err as { name?: unknown }).name === 'ApiError';
  const apiError = err as { status?: unknown; message?: unknown };
  if (!isApiError || typeof apiError.status !== 'number') return err;
  const body = errorBody(typeof apiError.message === 'string' ? apiError.message : '');
  const message = typeof body.message === 'string' ? body.message : '';
  const rpcStatus = typeof body.status === 'string' ? body.status : undefined;
  const details = Array.isArray(body.details) ? (body.details as { '@type'?: unknown; retryDelay?: unknown; reason?: unknown }[]) : [];
  let status = apiError.status;
  let code = rpcStatus;
  if (status === 400 && /input token count.*exceeds the maximum/is.test(message)) code = 'context_length_exceeded';
  else if (status === 400 && (details.some((d) => d?.reason === 'API_KEY_INVALID') || /API key not valid/i.test(message))) {
    status = 401;
    code = 'invalid_api_key';
  }
  const retryInfo = details.find((d) => typeof d?.['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo'));
  const retryAfterMs = status === 429 ? durationMs(retryInfo?.retryDelay) : undefined;
  const text = `Gemini API error ${status}${rpcStatus ? ` ${rpcStatus}` : ''}${message ? `: ${message.slice(0, 300)}` : ''}`;
  return new ProviderError(text, { status, cause: err, ...(code !== undefined ? { code } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/**
 * The `error` object of the body the SDK put in the error's message: the body's JSON itself for an HTTP error,
 * `got status: … <JSON>` for an error sent in a stream. Empty when there is none.
 */
function errorBody(message: string): GoogleRpcError {
  const start = message.indexOf('{');
  if (start < 0) return {};
  try {
    const parsed = JSON.parse(message.slice(start)) as { error?: unknown };
    return parsed !== null && typeof parsed === 'object' && parsed.error !== null && typeof parsed.error === 'object' ? (parsed.error as GoogleRpcError) : {};
  } catch {
    return {};
  }
}

/** A protobuf `Duration` as JSON (`"2s"`, `"1.5s"`, `"0.250s"`; or `{ seconds, nanos }`) in milliseconds. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)s\s*$/.exec(value);
    return m ? Math.round(Number(m[1]) * 1000) : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    const s = Number(seconds ?? 0);
    const n = Number(nanos ?? 0);
    return Number.isFinite(s) && Number.isFinite(n) && s >= 0 && n >= 0 ? Math.round(s * 1000 + n / 1e6) : undefined;
  }
  return undefined;
}
