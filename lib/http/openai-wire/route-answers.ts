import { openAIError, type WireAnswer } from './wire-answer';

/** A client-sent string as it may appear in a message: at most 200 characters. */
const shown = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

/** A path under the gateway's prefix that names none of its routes: OpenAI's own 404 for an unknown URL. */
export function unknownRoute(method: string, path: string): WireAnswer {
  return openAIError(404, `Invalid URL (${shown(method)} ${shown(path)})`, 'invalid_request_error', null);
}

/** A known route asked with a method it does not take: 405, with the methods it does take in `Allow`. */
export function methodNotAllowed(method: string, path: string, allow: string): WireAnswer {
  return openAIError(405, `Method ${shown(method)} is not allowed for ${shown(path)}; allowed: ${allow}.`, 'invalid_request_error', 'method_not_allowed', null, { Allow: allow });
}

/** `GET /models/{id}` for an id the gateway does not serve (OpenAI's own 404 for an unknown model). */
export function modelNotFound(id: string): WireAnswer {
  return openAIError(404, `The model '${shown(id)}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
}

/** A body problem (not JSON, not an object, too large), as OpenAI answers it. */
export function bodyProblem(status: number, problem: string): WireAnswer {
  return openAIError(status, problem, 'invalid_request_error', status === 413 ? 'request_too_large' : null);
}
