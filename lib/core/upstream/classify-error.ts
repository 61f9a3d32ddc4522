import { type FailureClass, failureClass } from '../fallback/attempt-failure';
import { invalidFailure } from '../fallback/outcome-table';
import { InvalidAnswerError } from '../validation/invalid-answer';
import { parseRetryAfterMs } from './retry-after';
import { UpstreamConnectionError } from './upstream-errors';

export { InvalidAnswerError };

/** What an attempt's record says when a provider answered that the prompt does not fit its context window. */
export const CONTEXT_LENGTH_EXCEEDED = 'context length exceeded';

export interface AbortContext {
  /** Our own attempt timer fired. */
  timedOut: boolean;
  /** The caller's signal (or the HTTP client's disconnect) fired. */
  callerAborted: boolean;
  /** We cancelled the attempt ourselves (a hedge that lost). */
  cancelled?: boolean;
  timeoutMs: number;
}

/**
 * The one place that maps what an attempt threw to a kind of failure (see `OUTCOME_TABLE`, which decides what
 * each kind causes). It reads provider-neutral failures only (see `upstream-errors.ts`): a numeric `status` (with
 * `retryAfterMs` or `headers`), a connection failure, an abort, a body cut short or not JSON; a provider's client
 * maps its own errors to those first (`DefaultProvider.failureOf`). Caller faults (400/413/422 except context
 * length) fail fast; everything else falls through to the next model.
 */
export function classifyError(err: unknown, ctx: AbortContext): FailureClass {
  if (ctx.callerAborted) return failureClass({ kind: 'caller_gone' }, 'cancelled by the caller');
  if (ctx.cancelled) return failureClass({ kind: 'hedge_lost' }, 'cancelled: another model answered first');
  if (ctx.timedOut) return failureClass({ kind: 'timeout' }, `no answer within ${ctx.timeoutMs} ms`);
  // whether it is the model's failure depends on why (see INVALID_REASON_KINDS): not when the request caused it
  if (err instanceof InvalidAnswerError) return failureClass(invalidFailure(err.reason), err.message);
  if (err instanceof UpstreamConnectionError) {
    if (err.timedOut) return providerError('connection timed out');
    // refused or reset: the provider may take the next try; a certificate or a name that does not resolve will not
    return TRANSIENT_CONNECT_CODES.has(codeOf(err.cause)) ? transient(providerError('connection error')) : providerError('connection error');
  }
  // an HTTP-like failure is a numeric `status` on what was thrown (an `UpstreamHttpError`, a `ProviderError`, any
  // provider's own): read exactly as an HTTP answer with that status, its `retryAfterMs` (or `headers`) for a 429
  const status = statusOf(err);
  if (status !== undefined) return byStatus(status, isContextLengthError(err as { message?: unknown }), () => retryAfterOf(err as ProviderLikeError));
  // aborted, but neither by our timer nor by the caller (nor our hedge): a failed attempt
  if (isAbort(err)) return providerError('request aborted');
  if (err instanceof SyntaxError) return providerError('malformed response from provider');
  if (isCutWhileReading(err)) return transient(providerError('connection closed before the answer was complete'));
  return providerError('unexpected error while calling the provider');
}

/** The failure an HTTP status means, whoever reported it. */
function byStatus(status: number, contextLength: boolean, retryAfterMs: () => number | undefined): FailureClass {
  if (status === 429) return failureClass({ kind: 'rate_limited', status, retryAfterMs: retryAfterMs() }, 'rate limited');
  // Not this model's fault and not the caller's: a model with a larger window may answer.
  if (status === 400 && contextLength) return failureClass({ kind: 'context_exceeded', status }, CONTEXT_LENGTH_EXCEEDED);
  if (status === 400 || status === 413 || status === 422) return failureClass({ kind: 'rejected_request', status }, `provider rejected the request (${status})`);
  if (status === 401 || status === 403) return failureClass({ kind: 'access_refused', status }, `provider refused credentials (${status})`);
  if (status === 404) return failureClass({ kind: 'access_refused', status }, `provider error ${status}`);
  const f = failureClass({ kind: 'provider_error', status }, `provider error ${status}`);
  // a 5xx says the provider failed this once (501 and 505 say it never will)
  return status >= 500 && status !== 501 && status !== 505 ? transient(f) : f;
}

interface ProviderLikeError {
  status?: unknown;
  retryAfterMs?: unknown;
  headers?: unknown;
}

/** A whole HTTP status (100–599) on a thrown object, if it has one. */
function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const status = (err as ProviderLikeError).status;
  return typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599 ? status : undefined;
}

/** How long a provider's 429 asks to wait: its `retryAfterMs`, else `retry-after`-style headers it carries. */
function retryAfterOf(err: ProviderLikeError): number | undefined {
  const ms = err.retryAfterMs;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  const headers = err.headers;
  if (headers === null || typeof headers !== 'object' || typeof (headers as { get?: unknown }).get !== 'function') return undefined;
  return parseRetryAfterMs(headers as Parameters<typeof parseRetryAfterMs>[0]);
}

/** An abort (`name: 'AbortError'`, as `fetch`, `UpstreamAbortError` and most clients name it). */
function isAbort(err: unknown): boolean {
  return err !== null && typeof err === 'object' && (err as { name?: unknown }).name === 'AbortError';
}

/**
 * A body whose connection closed before it was complete. Node's fetch (undici) fails its reading with
 * `TypeError('terminated')` (its cause: the socket error), and so does the default transport's `text()`/`json()`
 * (see `undiciTransport`); a stream the SDK reads from the transport's body fails with undici's own socket error.
 * A client passes either on as is once the headers are in (the openai SDK does), so it is no connection error.
 */
function isCutWhileReading(err: unknown): boolean {
  // by name and code, not `instanceof`: the error is made in Node's own realm, which a vm context (jest's) does not share
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (typeof e !== 'object' || e === null) return false;
  if (e.name === 'TypeError' && e.message === 'terminated') return true;
  return typeof e.code === 'string' && CUT_CODES.has(e.code);
}

const CUT_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_BODY_TIMEOUT', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * What providers say when the prompt does not fit the model's window. OpenAI, Azure and Groq send the code
 * `context_length_exceeded`; others only say it in words: vLLM, Together, DeepSeek and Mistral ("maximum context
 * length"), Anthropic's compatible endpoint ("prompt is too long"), Gemini's ("input token count … exceeds the
 * maximum number of tokens"), Bedrock ("input is too long"). The message is only read here, never copied
 * (it may echo the request).
 */
const CONTEXT_LENGTH_WORDS =
  /context[ _-]?(length|window)|maximum context|prompt is too long|input is too long|input token count|too many (input |prompt )?tokens|exceeds? (the )?token limit|reduce the length of the messages/i;

function isContextLengthError(err: { message?: unknown }): boolean {
  const code = (err as { code?: unknown }).code;
  if (code === 'context_length_exceeded') return true;
  // `err.message` is the body's `error.message`, or the body itself when it is not JSON (as the openai SDK builds it)
  const type = (err as { type?: unknown }).type;
  const words = [typeof err.message === 'string' ? err.message : '', typeof type === 'string' ? type : '', typeof code === 'string' ? code : ''];
  return words.some((w) => w !== '' && CONTEXT_LENGTH_WORDS.test(w.slice(0, 1000)));
}

const TRANSIENT_CONNECT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EAI_AGAIN']);

/** The `code` of an error or of the first cause that has one (undici wraps the socket's error). */
function codeOf(err: unknown, depth = 0): string {
  if (typeof err !== 'object' || err === null || depth > 4) return '';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length > 0) return codeOf(errors[0], depth + 1);
  return codeOf((err as { cause?: unknown }).cause, depth + 1);
}

/** Marks a failure that a second try of the same model may not meet (see `retry`). */
function transient(f: FailureClass): FailureClass {
  f.transient = true;
  return f;
}

function providerError(message: string): FailureClass {
  return failureClass({ kind: 'provider_error' }, message);
}
