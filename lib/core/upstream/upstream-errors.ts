/**
 * The failures of a call that `classifyError` reads, whoever the provider is. A provider's client maps its own
 * errors to these (the OpenAI-compatible one: `lib/providers/openai/openai-errors.ts`); a `ChatProvider` of the
 * app's own may throw them too, or any error with a numeric `status` (see `ProviderError`).
 */

/** Headers as `fetch` gives them (only `get` is read). */
export interface HeaderSource {
  get(name: string): string | null;
}

/** The provider answered with an HTTP error status. Its message is read (context length), never copied. */
export class UpstreamHttpError extends Error {
  readonly status: number;
  /** For a 429: how long the provider asked to wait, when known; else read from `headers`. */
  readonly retryAfterMs?: number;
  /** The answer's headers (`retry-after`, `retry-after-ms`, `x-ratelimit-reset-*`). */
  readonly headers?: HeaderSource;
  /** The body's `error.code`, e.g. `'context_length_exceeded'`. */
  readonly code?: unknown;
  /** The body's `error.type`. */
  readonly type?: unknown;

  constructor(message: string, options: { status: number; retryAfterMs?: number; headers?: HeaderSource; code?: unknown; type?: unknown; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamHttpError';
    this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.headers !== undefined) this.headers = options.headers;
    if (options.code !== undefined && options.code !== null) this.code = options.code;
    if (options.type !== undefined && options.type !== null) this.type = options.type;
  }
}

/** No HTTP answer at all: the connection failed (refused, reset, name lookup) or timed out. */
export class UpstreamConnectionError extends Error {
  readonly timedOut: boolean;

  constructor(options: { timedOut?: boolean; cause?: unknown } = {}) {
    super(options.timedOut ? 'connection timed out' : 'connection error', options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamConnectionError';
    this.timedOut = options.timedOut === true;
  }
}

/** The call was aborted, but neither by the attempt's own timer nor by the caller (the provider's client gave up). */
export class UpstreamAbortError extends Error {
  constructor(options: { cause?: unknown } = {}) {
    super('request aborted', options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AbortError';
  }
}
