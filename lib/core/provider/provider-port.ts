import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import type { StreamPiece, UpstreamAnswer } from './answer';

/**
 * The provider of every model without one of its own (`models[].provider` unset or `'openai'`): what the core
 * calls, whoever implements it. The core does not know which it is: the engine is handed its factory (see
 * `EngineDefaults`); the library's own is the OpenAI-compatible one in `lib/providers/openai`.
 *
 * It is not a `ChatProvider`, for speed: `create` hands back the provider's own promise and `answerOf` reads what
 * it resolves with in the caller's `.then`, so a call costs no promise layer of the library's own.
 */
export interface DefaultProvider {
  /** One call: a promise of the provider's raw answer. May also throw synchronously (callers guard that). */
  create(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): Promise<unknown>;
  /** What `create` resolved with, as the library's answer; throws `InvalidAnswerError` for anything unusable. */
  answerOf(raw: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer;
  /**
   * What `create` rejected with (or threw), as an error `classifyError` reads: a numeric `status` (with
   * `retryAfterMs` or `headers`, `code`, `type`), an `UpstreamConnectionError`, an `UpstreamAbortError`, or
   * anything else as it is. Only called on the failure path.
   */
  failureOf(err: unknown): unknown;
  /**
   * A streamed call as pieces: text deltas, then the finish reason and usage. Errors before the first byte reject
   * the first `next()`, errors mid-stream a later one; either is already what `failureOf` would make of it.
   */
  stream(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncIterable<StreamPiece>;
  /** Releases its connections (calls in flight may end by their own timeout). */
  close(): Promise<void>;
}

/**
 * Makes the default provider, once per chain, when at least one model has no provider of its own. It is given
 * every configured model (those with a provider of their own included, for the index in a `ConfigError`'s path)
 * and the app's `fetch` option.
 */
export type DefaultProviderFactory = (models: readonly ResolvedModel[], fetchImpl: typeof globalThis.fetch | undefined) => DefaultProvider;
