/**
 * The seam between the chain and a provider. The chain decides everything (timeouts, cancellation, breakers,
 * cool-downs, caching, validation, hedging, budgets, events); a provider only turns one call into one answer.
 *
 * A provider signals a failure by throwing. An error with a numeric `status` is treated exactly as an HTTP answer
 * with that status: 429 is a cool-down (honouring `retryAfterMs` on the error), 5xx a failure of the model (the
 * next model is tried and the breaker counts it), 400/413/422 the caller's fault (nothing else is tried; a
 * `code: 'context_length_exceeded'` 400 moves on to a model with a larger window). Anything else thrown is an
 * `error` outcome. A provider must stop its work when `call.signal` fires.
 */
export interface ChatProvider {
  /** One answer. */
  complete(call: ProviderCall): Promise<ProviderAnswer>;
  /** The answer as it is produced; optional (a provider without it is streamed as one piece). */
  stream?(call: ProviderCall): AsyncIterable<ProviderStreamPart>;
  /** Releases the provider's connections when the app closes. */
  close?(): void | Promise<void>;
}

/** A message as providers receive it: structurally OpenAI's chat message. */
export interface ProviderMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';
  content?: string | readonly ProviderContentPart[] | null;
  name?: string;
  [field: string]: unknown;
}

/** A content part of a message (text, image, …), as OpenAI's API spells it. */
export interface ProviderContentPart {
  type: string;
  [field: string]: unknown;
}

/** One call to one model. */
export interface ProviderCall {
  /** The configured model's provider-side id (`models[].model`). */
  model: string;
  /** The configured model's `name` (what results, events and `status()` call it). */
  name: string;
  messages: readonly ProviderMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string | string[];
  seed?: number;
  /** The structured-output format asked for (OpenAI's `response_format`). */
  responseFormat?:
    | { type: 'text' }
    | { type: 'json_object' }
    | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };
  /** Fires when the attempt times out, a hedge lost, or the caller went away: stop and release everything. */
  signal: AbortSignal;
}

/** Token counts as the provider reported them. */
export interface ProviderUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens?: number;
}

/** What a provider answers. */
export interface ProviderAnswer {
  text: string;
  /** `'stop'`, `'length'`, `'content_filter'`, … in OpenAI's words. */
  finishReason: string;
  /** Counted with the library's tokenizer when absent. */
  usage?: ProviderUsage;
  /** The model that really answered, as the provider names it. Default: `call.model`. */
  providerModel?: string;
}

/** One piece of a streamed answer: text as it comes, then exactly one `finish`. */
export type ProviderStreamPart =
  | { type: 'text'; text: string }
  | { type: 'finish'; finishReason: string; usage?: ProviderUsage; providerModel?: string };

/** An error a provider throws for an HTTP-like failure (any error with a numeric `status` is read the same way). */
export class ProviderError extends Error {
  readonly status: number;
  /** For a 429: how long the provider asked to wait. */
  readonly retryAfterMs?: number;
  /** A machine-readable reason, e.g. `'context_length_exceeded'`. */
  readonly code?: string;

  constructor(message: string, options: { status: number; retryAfterMs?: number; code?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.code !== undefined) this.code = options.code;
  }
}

/** Whether `value` looks like a `ChatProvider` (checked at start-up for `models[].provider`). */
export function isChatProvider(value: unknown): value is ChatProvider {
  if (value === null || typeof value !== 'object') return false;
  const p = value as { complete?: unknown; stream?: unknown; close?: unknown };
  return typeof p.complete === 'function' && (p.stream === undefined || typeof p.stream === 'function') && (p.close === undefined || typeof p.close === 'function');
}
