import { isAllModelsFailedError } from '../../errors/all-models-failed-error';
import { isRequestAbortedError } from '../../errors/request-aborted-error';
import { isRequestError, type RequestError } from '../../errors/request-error';
import { isTenantLimitError } from '../../errors/tenant-limit-error';
import { rateLimitHeaders } from '../rate-limit-headers';

/** One answer of the gateway, as any adapter sends it: JSON `body`, or no body when it is null. */
export interface WireAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
export function openAIError(status: number, message: string, type: string, code: string | null, param: string | null = null, headers: Record<string, string> = {}): WireAnswer {
  return { status, headers, body: { error: { message, type, param, code } } };
}

/** The answer to a request without one of the gateway's keys (OpenAI's own 401). */
export function invalidApiKey(): WireAnswer {
  return openAIError(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key', null, { 'WWW-Authenticate': 'Bearer' });
}

/** The answer when no engine answers the route (the middleware is not mounted before it). */
export function notMounted(): WireAnswer {
  return openAIError(500, 'The LLM middleware is not mounted before this router.', 'server_error', null);
}

/**
 * One of our errors as OpenAI answers it; null for any other error (the framework handles it). A request the
 * client left is a 499 with no body (nobody reads it).
 */
export function wireErrorAnswer(err: unknown, body: Record<string, unknown>): WireAnswer | null {
  if (isRequestError(err)) {
    // OpenAI's own answer to a prompt too long for the model: a 400, never to be retried
    if (err.code === 'CONTEXT_LENGTH_EXCEEDED') return openAIError(400, err.message, 'invalid_request_error', 'context_length_exceeded', 'messages');
    const { message, param } = onTheWire(err, body);
    return openAIError(err.status, message, 'invalid_request_error', err.status === 413 ? 'request_too_large' : 'invalid_request', param);
  }
  // as OpenAI's own 429: `type` the limit ('requests', 'tokens'; 'usd' for a cost budget), `code` rate_limit_exceeded
  if (isTenantLimitError(err)) return openAIError(429, err.message, err.limit, 'rate_limit_exceeded', null, rateLimitHeaders(err));
  if (isAllModelsFailedError(err)) return openAIError(503, err.message, 'server_error', 'all_models_failed', null, { 'Retry-After': String(err.retryAfterS) });
  if (isRequestAbortedError(err)) return { status: 499, headers: {}, body: null };
  return null;
}

/** The request's fields by their wire names (`maxTokens` is whichever of the two the client sent). */
function wireName(field: string, body: Record<string, unknown>): string {
  if (field === 'maxTokens') return body.max_completion_tokens !== undefined && body.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  if (field === 'topP') return 'top_p';
  if (field === 'responseFormat') return 'response_format';
  if (field === 'toolChoice') return 'tool_choice';
  if (field === 'parallelToolCalls') return 'parallel_tool_calls';
  if (field === 'providerOptions') return '(passed-through parameters)';
  return field;
}

/**
 * A `RequestError` as OpenAI words it: each problem's path named by the client's field (`/maxTokens` is
 * `max_tokens`, `/messages/0/role` is `messages.[0].role`), and the first one as `param`.
 */
function onTheWire(err: RequestError, body: Record<string, unknown>): { message: string; param: string | null } {
  let param: string | null = null;
  const problems = err.details.map((d) => {
    const m = /^\/([^/:\s]+)((?:\/[^:\s]*)?): (.*)$/.exec(d);
    if (!m) return d;
    const rest = m[2].split('/').filter(Boolean).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : seg));
    const name = [wireName(m[1], body), ...rest].join('.');
    param ??= name;
    return `'${name}': ${m[3]}`;
  });
  if (problems.length === 0 || err.status === 413) return { message: err.message, param };
  return { message: `Invalid request: ${problems.join('; ')}`, param };
}
