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
  /**
   * How many of this provider's tokens one token of the library's count (o200k_base, OpenAI's) makes, with a
   * safety margin: a model's `contextWindow` is checked against the prompt's count times this. Default: 1.
   */
  readonly promptTokenScale?: number;
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

/** A tool the model may call, as the request gave it (OpenAI's function-tool shape). */
export interface ProviderTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

/** A tool call of an answer: `arguments` is the JSON text of the arguments, as the model wrote it. */
export interface ProviderToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
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
  /** Functions the model may call. */
  tools?: readonly ProviderTool[];
  /** OpenAI's `tool_choice`: `'auto' | 'none' | 'required' | { type: 'function', function: { name } }`. */
  toolChoice?: 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };
  parallelToolCalls?: boolean;
  /** The request's pass-through parameters, by provider family (`{ openai: {…}, anthropic: {…}, gemini: {…} }`). */
  providerOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Fires when the attempt times out, a hedge lost, or the caller went away: stop and release everything. */
  signal: AbortSignal;
}

/** Token counts as the provider reported them. */
export interface ProviderUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens?: number;
}

/**
 * Why a provider's answer ended, in OpenAI's words: `'stop'` (complete), `'length'` (cut by the token limit),
 * `'content_filter'` (withheld), `'tool_calls'` / `'function_call'`. Any other value is a malformed answer (a failed
 * attempt): map your API's own reasons (`'end_turn'`, `'max_tokens'`, …) onto these.
 */
export type ProviderFinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'function_call';

/** The finish reasons a provider may give (see `ProviderFinishReason`). */
export const PROVIDER_FINISH_REASONS: readonly ProviderFinishReason[] = Object.freeze(['stop', 'length', 'content_filter', 'tool_calls', 'function_call']);

/** Whether `value` is one of `PROVIDER_FINISH_REASONS`. */
export function isProviderFinishReason(value: unknown): value is ProviderFinishReason {
  return typeof value === 'string' && (PROVIDER_FINISH_REASONS as readonly string[]).includes(value);
}

/** What a provider answers. */
export interface ProviderAnswer {
  text: string;
  /** One of `ProviderFinishReason`; anything else is a failed attempt (`invalid`). */
  finishReason: ProviderFinishReason;
  /** Counted with the library's tokenizer when absent. */
  usage?: ProviderUsage;
  /** The model that really answered, as the provider names it. Default: `call.model`. */
  providerModel?: string;
  /** Tool calls (with `finishReason: 'tool_calls'`); each is checked against `call.tools`. */
  toolCalls?: ProviderToolCall[];
  /** The model declined to answer: its refusal (an answer, not a failure; `text` may be empty). */
  refusal?: string;
}

/**
 * One piece of a streamed answer: text (and tool calls, a refusal) as they come, then exactly one `finish`, last. A part after the `finish` part
 * (text or another finish) breaks the protocol: the attempt fails (`invalid`) and nothing after the finish is
 * delivered.
 */
export type ProviderStreamPart =
  | { type: 'text'; text: string }
  /** One whole tool call (assembled from the provider's own deltas), in the order the model made them. */
  | { type: 'tool-call'; toolCall: ProviderToolCall }
  /** The model's refusal (or part of it). */
  | { type: 'refusal'; refusal: string }
  | { type: 'finish'; finishReason: ProviderFinishReason; usage?: ProviderUsage; providerModel?: string };

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
  const p = value as { complete?: unknown; stream?: unknown; close?: unknown; promptTokenScale?: unknown };
  const scale = p.promptTokenScale;
  return (
    typeof p.complete === 'function' &&
    (p.stream === undefined || typeof p.stream === 'function') &&
    (p.close === undefined || typeof p.close === 'function') &&
    (scale === undefined || (typeof scale === 'number' && Number.isFinite(scale) && scale > 0 && scale <= 10))
  );
}
