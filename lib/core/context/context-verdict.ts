import { RequestError } from '../../errors/request-error';
import type { AttemptRecord } from '../../types';
import { CONTEXT_LENGTH_EXCEEDED } from '../upstream/classify-error';

/**
 * Whether an attempt ruled its model out for this prompt for good: skipped because prompt + `maxTokens` does not
 * fit its `contextWindow` (or a model with a larger window already found the prompt too long), or answered by the
 * provider with "context length exceeded". Retrying the same request cannot change either.
 */
export function ruledOutByContext(a: AttemptRecord): boolean {
  return a.outcome === 'skipped_context' || (a.outcome === 'error' && a.message === CONTEXT_LENGTH_EXCEEDED);
}

/**
 * The caller's error when every model of the walk was ruled out by the prompt's length (see `ruledOutByContext`):
 * a 413 `RequestError` (`CONTEXT_LENGTH_EXCEEDED`), which no retry can fix, instead of a 503 with `Retry-After`.
 * Null when any model was not tried (a deadline) or failed, was skipped or refused for a reason that may pass
 * (an error, a timeout, an open breaker, a cool-down, its concurrency limit, the budget): that stays a 503.
 */
export function contextLengthError(chain: readonly { name: string }[], attempts: readonly AttemptRecord[]): RequestError | null {
  if (chain.length === 0 || attempts.length === 0) return null;
  for (const a of attempts) if (!ruledOutByContext(a)) return null;
  for (const m of chain) if (!attempts.some((a) => a.model === m.name)) return null;
  const details = attempts.map((a) => `/messages: too long for model "${a.model}" (${a.outcome === 'skipped_context' ? a.message ?? 'it does not fit its context window' : 'its provider answered that the context length was exceeded'})`);
  return new RequestError(
    `The prompt does not fit the context window of any model of the chain (${attempts.map((a) => a.model).join(', ')}): shorten the messages or ask for fewer tokens`,
    details,
    { status: 413, code: 'CONTEXT_LENGTH_EXCEEDED', attempts },
  );
}
