import type { ChatProvider } from './core/provider/chat-provider';
import type { SharedStore, SharedStoreHealth } from './core/shared/shared-store';

export type { SharedStore, SharedStoreHealth };

/** Price of a model in USD per million tokens. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** One model of the fallback chain. */
export interface ModelConfig {
  /** Unique name used in results, events and `status()`. Default: `model`. */
  name?: string;
  /** The provider's model id, e.g. `gpt-4o-mini`. Required. */
  model: string;
  /** OpenAI-compatible base URL. Default: the SDK's (`OPENAI_BASE_URL`, else api.openai.com). */
  baseURL?: string;
  /** API key. Default: the SDK's (`OPENAI_API_KEY`). Never logged, never echoed in errors. */
  apiKey?: string;
  /** Time one attempt on this model may take before it is aborted and the next model is tried. Default: 2000. */
  timeoutMs?: number;
  /** Context window in tokens (informational for now; used by context-aware failover). */
  contextWindow?: number;
  /** The most output tokens this model may produce; a request's `maxTokens` is capped to it. */
  maxOutputTokens?: number;
  /** USD per million tokens; used to report `usage.costUsd`. */
  price?: ModelPrice;
  /** Streams: time to the first content token before the next model is tried (invisibly). Default: `timeoutMs`. */
  firstTokenTimeoutMs?: number;
  /** Streams: longest silence between chunks once the answer has started; a stall is a failure. Default: 5000. */
  idleTimeoutMs?: number;
  /** Bulkhead: calls in flight to this model at most; more go to the next model at once (`overloaded`). Default: the top-level `maxConcurrent`. */
  maxConcurrent?: number;
  /**
   * Streams: the endpoint continues a trailing assistant message (prefill) instead of answering anew, as vLLM-style
   * and Anthropic-style endpoints do (OpenAI's own API does not). With `midStream: 'continue'` only such a model is
   * asked to continue another model's interrupted answer. Default: `false`.
   */
  prefill?: boolean;
  /**
   * Who answers for this model: `'openai'` (the default: any OpenAI-compatible endpoint, through the openai SDK with
   * `baseURL` and `apiKey`), `'anthropic'` (the Messages API through `@anthropic-ai/sdk`; key: `apiKey`, else
   * `ANTHROPIC_API_KEY`), `'gemini'` (the Gemini API through `@google/genai`; key: `apiKey`, else `GEMINI_API_KEY`,
   * else `GOOGLE_API_KEY`), or your own `ChatProvider` (see the README's "Your own provider"). Timeouts,
   * cancellation, breakers, caching, validation, hedging, budgets, events and metrics are the library's, the same
   * for every provider.
   */
  provider?: 'openai' | 'anthropic' | 'gemini' | ChatProvider;
  /**
   * The same model served by several endpoints (keys, regions, providers): each deployment has its own breaker,
   * 429 cool-down, bulkhead and latency window, and is named `<name>/<deployment name>` in results, attempts,
   * events, `status()`, metrics and the dashboard. A 429, a failure, a timeout or an open breaker on one deployment
   * tries another deployment of the model before the chain falls back to the next model. Each deployment takes the
   * model's options and overrides what it gives. Default: none (the model is one endpoint).
   */
  deployments?: DeploymentConfig[];
  /**
   * Which deployment is tried first (then the others, in the same order): `'weighted'` (weighted random, by
   * `weight`), `'least-busy'` (fewest calls in flight, ties by weight) or `'lowest-latency'` (the lowest recent
   * median latency of successful answers, or time to first token for streams; a deployment with no sample yet comes
   * first). Only with `deployments`. Default: `'weighted'`.
   */
  strategy?: DeploymentStrategy;
}

/** How the deployments of one model are ordered for each request (see `ModelConfig.strategy`). */
export type DeploymentStrategy = 'weighted' | 'least-busy' | 'lowest-latency';

/** One endpoint serving a model (see `ModelConfig.deployments`): what it gives replaces the model's own. */
export interface DeploymentConfig {
  /**
   * Unique among the model's deployments; the deployment is `<model name>/<name>` everywhere. Default: the host
   * (and port) of `baseURL`; without a `baseURL`, its position (`'0'`, `'1'`, …).
   */
  name?: string;
  /** The deployment's endpoint. Default: the model's `baseURL`. */
  baseURL?: string;
  /** The deployment's key. Default: the model's `apiKey`. Never logged, never echoed in errors. */
  apiKey?: string;
  /** The provider's model id at this deployment (an Azure OpenAI deployment name, say). Default: the model's `model`. */
  model?: string;
  /** Who answers at this deployment (as `ModelConfig.provider`). Default: the model's `provider`. */
  provider?: 'openai' | 'anthropic' | 'gemini' | ChatProvider;
  /** Bulkhead of this deployment. Default: the model's `maxConcurrent`. */
  maxConcurrent?: number;
  /** Share of requests that try this deployment first with `strategy: 'weighted'` (0: only when the others cannot answer). Default: 1. */
  weight?: number;
}

/** Adaptive per-attempt timeouts, learned from each model's successful latencies (per task). */
export interface AdaptiveTimeoutOptions {
  /** Percentile of recent successful latencies the timeout is based on. Default: 95. */
  percentile?: number;
  /** Multiplier applied to that percentile. Default: 1.5. */
  multiplier?: number;
  /** Samples needed (for the task, else for the model) before the timeout adapts. Default: 20. */
  minSamples?: number;
  /** Lower bound of an adaptive timeout. Default: 50. The model's `timeoutMs` is the upper bound. */
  minTimeoutMs?: number;
}

/** Hedged requests: when a model is slower than usual, ask the next one in parallel; the first valid answer wins. */
export interface HedgeOptions {
  /** Start the hedge when the current model has not answered by this percentile of its latency. Default: 95. */
  afterPercentile?: number;
  /** Hedged requests at most, as a fraction of all requests (token bucket). Default: 0.1. */
  maxExtraLoad?: number;
  /** Samples needed before a model is hedged. Default: 20. */
  minSamples?: number;
}

/**
 * Same-model retries of transient failures: a 5xx, a connection that failed or closed before the answer came, and
 * a 429 whose `retry-after` fits the time left. Never after a timeout, never on a breaker that is not closed,
 * never for a hedged or rescued attempt; bounded per model by a retry budget.
 */
export interface RetryOptions {
  /** Retries of one model per request. Default: 1. */
  maxRetries?: number;
  /** Backoff before retry n: a random delay in [½, 1] × `baseDelayMs` × 2^(n−1), at most `maxDelayMs`. Default: 100. */
  baseDelayMs?: number;
  /** Longest backoff. Default: 1000. */
  maxDelayMs?: number;
  /** A 429's `retry-after` (or the provider's reset time) longer than this falls over at once. Default: 3000. */
  maxRetryAfterMs?: number;
  /**
   * The retry budget: a model's retries within `budgetWindowMs` stay under `budgetMinRetries` plus this fraction
   * of its requests in that window, so an outage cannot multiply its load. Default: 0.1.
   */
  budgetRatio?: number;
  /** Retries a model may always take within a window, however light its traffic. Default: 3. */
  budgetMinRetries?: number;
  /** Default: 10000. */
  budgetWindowMs?: number;
}

/**
 * Rescue: the next model is started beside a half-open breaker's probe (always) or a model's attempt that runs
 * past its usual latency (within `maxExtraLoad`), without cancelling it: the caller is answered by whichever ends
 * first with an answer, and the slow attempt runs to its own end, so its outcome still decides the breaker.
 * `complete()` only (a stream's first token is raced by `hedge`).
 */
export interface RescueOptions {
  /** The percentile of the model's latency after which the next model is started. Default: 99. */
  afterPercentile?: number;
  /** Samples needed before a closed breaker's attempt is rescued (a probe without them is rescued at once). Default: 20. */
  minSamples?: number;
  /**
   * Rescues whose slow attempt then answered after all (an extra call that was not needed) at most, as a fraction
   * of requests. A rescue whose slow attempt failed costs nothing extra: the next model would have been called
   * anyway, only later. Default: 0.02.
   */
  maxExtraLoad?: number;
}

/** Circuit-breaker settings, shared by every model's breaker. */
export interface BreakerOptions {
  /** Failure percentage (over the rolling window) at or above which a breaker opens. Default: 50. */
  errorThresholdPercentage?: number;
  /** Calls needed in the window before the breaker may open. Default: 5. */
  volumeThreshold?: number;
  /** Length of the rolling statistics window. Default: 10000. */
  rollingWindowMs?: number;
  /** How long an open breaker skips its model before letting one probe through. Default: 60000. */
  resetTimeoutMs?: number;
  /**
   * Failures in a row (no success between them) that open the breaker whatever the rolling window holds: a model
   * called once every few seconds never reaches `volumeThreshold` calls in the window, and a sudden outage after a
   * window of successes stays under the error rate for a while. `0` turns this trigger off. Default: 5.
   */
  consecutiveFailures?: number;
}

/**
 * In-process LRU cache settings, whatever the framework. Koa apps use `CacheOptions` (its `scope` reads the Koa
 * context), Express apps `LlmExpressOptions['cache']` (the Node request).
 */
export interface EngineCacheOptions {
  /** Maximum number of entries. Default: 1000. */
  max?: number;
  /** Optional bound on the total size of cached answers, in bytes (UTF-8 of text plus key). Default: none. */
  maxBytes?: number;
  /** Time to live of an entry. Default: 600000 (10 minutes). */
  ttlMs?: number;
  /**
   * Time to live of an answer given by a fallback model (a degraded answer), so the app returns to the
   * primary soon after it recovers. Default: 30000, capped by `ttlMs`.
   */
  fallbackTtlMs?: number;
  /**
   * Tenant scope: requests whose scope differs never share an entry. It is handed what the framework's layer
   * has of the request (Koa: the context; Express: the request). Default: one scope for all.
   */
  scope?(ctx: unknown): string;
  /**
   * A second tier shared by every process (`redisStore({ url })`): the in-process LRU stays in front; TTLs are
   * kept in the store. Identical misses across processes call the provider once. Default: none.
   */
  store?: SharedStore;
  /** Semantic (near-match) lookup on an exact miss. Default: off. */
  semantic?: SemanticCacheOptions;
  /** With a shared store: how long a process waits for another one that is already asking the provider, before asking itself. Default: 5000. */
  lockWaitMs?: number;
}

/** The semantic cache (opt-in). See the README for how to tune `threshold`. */
export interface SemanticCacheOptions {
  /** Embedding model id at the provider, e.g. `text-embedding-3-small`. Required. */
  embeddingModel: string;
  /** Endpoint and key for `/v1/embeddings`. Default: those of the first model of the chain. */
  baseURL?: string;
  apiKey?: string;
  /** Cosine similarity needed for a hit. Default: 0.95 (conservative). */
  threshold?: number;
  /** Prompt vectors kept in process. Default: 1000. */
  maxEntries?: number;
  /** Longest the embedding call may take before the request goes on without it. Default: 1000. */
  timeoutMs?: number;
  /** Also serve requests with temperature > 0 (or unset, the API's default 1). Default: false. */
  allowNonDeterministic?: boolean;
}

/** Handling of HTTP 429 answers. */
export interface RateLimitOptions {
  /** Cool-down when a 429 carries no `retry-after`/`retry-after-ms`. Default: 1000. */
  defaultCooldownMs?: number;
  /** Upper bound of any cool-down, whatever the provider asks. Default: 60000. */
  maxCooldownMs?: number;
}

/** One tenant's own limits (`tenantLimits.perTenant`): a number replaces the default, `null` lifts that limit. */
export interface TenantLimitOverrides {
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  usdPerDay?: number | null;
}

/** Limits per tenant, checked before the cache and before any upstream call (see the README). Each is off unless given. */
export interface TenantLimitOptions {
  /** Requests a tenant may make per minute (every request, cache hits included). Default: none. */
  requestsPerMinute?: number;
  /** Tokens (prompt + completion) a tenant's upstream calls may use per minute. Default: none. */
  tokensPerMinute?: number;
  /** USD a tenant's upstream calls may cost per day (rolling), from the models' `price`. Default: none. */
  usdPerDay?: number;
  /** A tenant's own limits, replacing the defaults above field by field (undefined: the defaults). */
  perTenant?: (tenant: string) => TenantLimitOverrides | undefined;
}

/** The engine's options, whatever the framework (Koa apps use `LlmResilienceOptions`, with Koa's cache `scope`). */
export interface EngineOptions {
  /** Ordered fallback chain; at least one model. */
  models: ModelConfig[];
  /** Circuit breaker settings. */
  breaker?: BreakerOptions;
  /** Response cache; `false` disables it. Default: `{}` (all defaults). */
  cache?: EngineCacheOptions | false;
  /**
   * Fleet-wide breaker and 429 cool-down state (`redisStore({ url })`): when one process opens a breaker or
   * starts a cool-down, the others skip that model within about a second, and one process probes for all.
   * Default: none (each process on its own).
   */
  shared?: SharedStore;
  /** 429 cool-downs. */
  rateLimit?: RateLimitOptions;
  /**
   * The `fetch` the openai SDK uses for every model (a proxy, a custom undici Agent, a test double).
   * Default: the global `fetch`.
   */
  fetch?: typeof globalThis.fetch;
  /** Total time one `complete()` may take, all attempts included. Default: none (each attempt has its own timeout). */
  deadlineMs?: number;
  /**
   * Adaptive per-attempt timeouts: once a model has `minSamples` successes (per task, else overall), an attempt's
   * timeout is clamp(p95 × 1.5, minTimeoutMs, timeoutMs). Default: on (`true`); `false` keeps each model's fixed `timeoutMs`.
   */
  adaptiveTimeout?: boolean | AdaptiveTimeoutOptions;
  /** `true` (defaults) or settings: hedged requests. Default: `false`. */
  hedge?: boolean | HedgeOptions;
  /** `true` (defaults), settings, or `false`: same-model retries of transient failures. Default: on. */
  retry?: boolean | RetryOptions;
  /** `true` (defaults), settings, or `false`: probes and slow first attempts no caller waits for. Default: on. */
  rescue?: boolean | RescueOptions;
  /** Bulkhead for every model (see `models[].maxConcurrent`). Default: none. */
  maxConcurrent?: number;
  /**
   * When a prompt does not fit a model's `contextWindow`: `false` skips that model (`skipped_context`);
   * `'oldest'` drops the oldest non-system messages (never the system prompt or the last user message)
   * until it fits. Default: `false`.
   */
  truncate?: false | 'oldest';
  /** Accept answers cut by the token limit (`finish_reason: 'length'`) instead of treating them as invalid. Default: `false`. */
  acceptTruncated?: boolean;
  /**
   * Streams: what a failure after the first token does. `'error'` ends the stream with an explicit error
   * (never a clean end); `'continue'` sends the next model with `prefill: true` the conversation plus the partial
   * answer as a trailing assistant message, checks that it continues rather than starts over, and splices it in
   * (`resumed: true`); the joined answer must pass the answer checks (schema, `validate`). With no such model left,
   * or a continuation that fails its checks, the stream ends with `StreamInterruptedError`. `'continue'` needs a
   * model after the first with `prefill: true` (a `ConfigError` otherwise). Default: `'error'`.
   */
  midStream?: 'error' | 'continue';
  /**
   * A refusal (`message.refusal`: the model declined) is an answer: `'return'` returns it as `result.refusal` (not
   * cached, not a failure of the model); `'fallback'` tries the next model instead (still not the model's failure).
   * Default: `'return'`.
   */
  onRefusal?: 'return' | 'fallback';
  /** Successful latencies kept per model and task for percentiles. Default: 200. */
  latencyWindow?: number;
  /**
   * A pino-compatible logger (`info`/`warn`/`error` taking `(object, message)`): one line per completed request
   * and one per breaker state change, secrets redacted. Default: none.
   */
  logger?: LlmLogger;
  /** Called with every request answered by a fallback model or flagged invalid (to persist the review log). */
  onFallback?: (entry: FallbackReviewEntry) => unknown;
  /** Requests kept in the in-memory fallback review log. Default: 100. */
  reviewLogSize?: number;
  /** App-wide spend limits: a model whose estimated cost would exceed one is skipped (`over_budget`). Default: none. */
  budget?: { usdPerHour?: number; usdPerDay?: number };
  /**
   * The tenant of a request, for `tenantLimits` (Koa: handed the context; Express: the request). undefined or '':
   * no tenant, no tenant limit. Default: the cache's `scope`.
   */
  tenant?(ctx: unknown): string | undefined;
  /** Limits per tenant: requests and tokens per minute, USD per day. Default: none. */
  tenantLimits?: TenantLimitOptions;
  /** OpenTelemetry spans (through `@opentelemetry/api`; no-op without a registered tracer provider). Default: true. */
  tracing?: boolean;
  /** Koa: set `x-llm-model`, `x-llm-fallback`, `x-llm-cache`, `x-llm-attempts` on responses of `ctx.llm.complete()`. Default: false. */
  exposeHeaders?: boolean;
  /** Requests whose message text is longer are rejected with a 413 `RequestError`, before any upstream call. Default: none. */
  maxPromptChars?: number;
  /**
   * Requests whose prompt is longer, in tokens (o200k_base, OpenAI's chat accounting), are rejected with a
   * 413 `RequestError` before any upstream call. Setting it loads the tokenizer at start-up. Default: none.
   */
  maxPromptTokens?: number;
}

/**
 * A chat message, as the OpenAI API takes them (the library's own type, so that no SDK is needed to name it): any
 * OpenAI-typed message (`ChatCompletionMessageParam`) is one, without a cast.
 */
export type ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage;

interface SystemMessage {
  role: 'system';
  content: string | ChatTextPart[];
  name?: string;
}

interface DeveloperMessage {
  role: 'developer';
  content: string | ChatTextPart[];
  name?: string;
}

interface UserMessage {
  role: 'user';
  content: string | ChatContentPart[];
  name?: string;
}

interface AssistantMessage {
  role: 'assistant';
  /** Required unless `tool_calls` or `function_call` is given. */
  content?: string | (ChatTextPart | ChatRefusalPart)[] | null;
  name?: string;
  refusal?: string | null;
  tool_calls?: ChatToolCall[];
  /** @deprecated OpenAI's, replaced by `tool_calls`. */
  function_call?: { name: string; arguments: string } | null;
  /** A previous audio answer of the model. */
  audio?: { id: string } | null;
}

interface ToolMessage {
  role: 'tool';
  content: string | ChatTextPart[];
  tool_call_id: string;
}

/** @deprecated OpenAI's, replaced by `tool` messages. */
interface FunctionMessage {
  role: 'function';
  content: string | null;
  name: string;
}

/** A tool call the model made, as earlier messages carry it (a function call, or a custom tool's). */
interface ChatToolCall {
  id: string;
  type: string;
  function?: { name: string; arguments: string };
  custom?: { name: string; input: string };
}

/** A part of a user message's content. */
type ChatContentPart = ChatTextPart | ChatImagePart | ChatAudioPart | ChatFilePart;

interface ChatTextPart {
  type: 'text';
  text: string;
}

interface ChatImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: string };
}

interface ChatAudioPart {
  type: 'input_audio';
  input_audio: { data: string; format: string };
}

interface ChatFilePart {
  type: 'file';
  file: { file_data?: string; file_id?: string; filename?: string };
}

interface ChatRefusalPart {
  type: 'refusal';
  refusal: string;
}

/** `response_format` of the OpenAI API. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

/** A function the model may call (OpenAI's function-tool shape); `parameters` is a JSON Schema of its arguments. */
export interface ToolDefinition {
  type: 'function';
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments; a call whose arguments do not match it is a failed attempt. */
    parameters?: Record<string, unknown>;
    strict?: boolean | null;
  };
}

/** Whether and which tool the model must call (OpenAI's `tool_choice`). */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** A tool call of an answer: OpenAI's shape, `arguments` the raw JSON string the model wrote (checked to parse and to match the tool's `parameters`). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * Parameters passed through to one provider family as they are, keyed by family: `{ openai: { logprobs: true,
 * max_completion_tokens: 512, reasoning_effort: 'low' } }` goes into the body of every OpenAI-compatible call
 * (never renamed); `anthropic` and `gemini` into those providers' requests; a `ChatProvider` gets them all in
 * `call.providerOptions`. Part of the cache key.
 */
export type ProviderOptions = Record<string, Record<string, unknown>>;

/** What `ctx.llm.complete()` takes: `messages` or `prompt`, plus optional parameters. */
export interface CompletionRequest {
  messages?: ChatMessage[];
  /** Shorthand for `messages: [{ role: 'user', content: prompt }]`. */
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string | string[];
  seed?: number;
  responseFormat?: ResponseFormat;
  /** Names of configured models: overrides the chain for this call. */
  models?: string[];
  /** Per-attempt timeout for this call, overriding each model's `timeoutMs`. */
  timeoutMs?: number;
  /** `false` bypasses the cache (no read, no write). Default: true. */
  cache?: boolean;
  /** Cancels the call; aborting is the caller's choice, never a model failure. */
  signal?: AbortSignal;
  /** Task label for latency statistics and adaptive timeouts (e.g. `'summarize'`). Default: the route's `llmTask()`, else none. */
  task?: string;
  /** Total time this call may take. Default: the `deadlineMs` option. */
  deadlineMs?: number;
  /**
   * JSON Schema the answer must match: sent as `response_format: json_schema`, validated with ajv; an answer
   * that does not parse or validate is `invalid` and the next model is tried. The parsed value is `result.json`.
   */
  schema?: Record<string, unknown>;
  /** Your own check of an answer: returning false (or throwing) makes the attempt `invalid`. */
  validate?: (result: { text: string; json?: unknown; model: string }) => boolean | Promise<boolean>;
  /** Overrides the `truncate` option for this call. */
  truncate?: false | 'oldest';
  /** Overrides the `acceptTruncated` option for this call. */
  acceptTruncated?: boolean;
  /** Streams: overrides the `midStream` option for this call. */
  midStream?: 'error' | 'continue';
  /** `false` keeps this call out of the semantic cache (personalised prompts). Default: true. */
  semanticCache?: boolean;
  /** Skip models whose estimated cost (prompt tokens × input price + maxTokens × output price) exceeds this (`over_budget`). */
  maxCostUsd?: number;
  /** Functions the model may call; an answer may then be tool calls only (`finishReason: 'tool_calls'`). */
  tools?: ToolDefinition[];
  /** Default: the provider's (`'auto'` when `tools` are given). `'required'` or a named function answered with prose is a failed attempt. */
  toolChoice?: ToolChoice;
  /** Whether the model may make several tool calls in one answer. Default: the provider's. */
  parallelToolCalls?: boolean;
  /**
   * A refusal (`result.refusal`) is an answer the model gave: `'return'` returns it (not cached, not a failure of
   * the model); `'fallback'` tries the next model instead. Default: the `onRefusal` option (`'return'`).
   */
  onRefusal?: 'return' | 'fallback';
  /** Parameters passed through unchanged to one provider family (see `ProviderOptions`). */
  providerOptions?: ProviderOptions;
}

/** The subset of a pino logger this library uses. */
export interface LlmLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error?(obj: Record<string, unknown>, msg?: string): void;
}

/** A request answered by a fallback model or flagged invalid, kept for people to review. */
export interface FallbackReviewEntry {
  requestId: string;
  at: string;
  task?: string;
  /** SHA-256 (hex, 16 chars) of the messages: correlates without keeping the prompt. */
  promptHash: string;
  /** Why it is here. */
  reason: 'fallback' | 'invalid';
  modelsTried: { model: string; outcome: AttemptOutcome; message?: string }[];
  answeredBy: string | null;
  /** The answer given (first 2000 characters), or null when every model failed. */
  answer: string | null;
}

/** What a stream resolves with once it has ended (`stream.result`). */
export interface StreamResult {
  /** The whole answer as delivered. */
  text: string;
  model: string;
  providerModel: string;
  /** True when replayed from the cache (no upstream call); `'semantic'` for a near-match of another prompt. */
  cached: boolean | 'semantic';
  /** Cosine similarity of the prompt whose answer was replayed, for a semantic hit. */
  similarity?: number;
  fallback: boolean;
  /**
   * True when this stream followed an identical stream or `complete()` already in flight instead of making its own
   * call (it received that call's pieces, or its whole answer replayed); false when it made its own call or was a
   * cache hit.
   */
  coalesced?: boolean;
  /** True when another model continued the answer after a failure mid-stream (`midStream: 'continue'`). */
  resumed: boolean;
  attempts: AttemptRecord[];
  usage: Usage;
  finishReason: string;
  /** Time to the first content token of the answer (null for a cache replay). */
  firstTokenMs: number | null;
  latencyMs: number;
  json?: unknown;
  /** The tool calls of the answer, each delivered whole once it was complete and valid. */
  toolCalls?: ToolCall[];
  /** The model's refusal, when it declined to answer. */
  refusal?: string;
}

/** What `stream.parts()` yields: the answer's text as it comes, and each tool call once it is complete and valid. */
export type StreamPart = { type: 'text'; text: string } | { type: 'tool-call'; toolCall: ToolCall };

/** How one attempt on one model ended. */
export type AttemptOutcome =
  | 'success'
  | 'timeout'
  | 'error'
  | 'rate_limited'
  | 'circuit_open'
  | 'invalid'
  /** The prompt does not fit the model's context window. */
  | 'skipped_context'
  /** The model already had `maxConcurrent` calls in flight. */
  | 'overloaded'
  /** Aborted, not a failure: a hedged attempt that lost the race, or an attempt whose caller went away. */
  | 'cancelled'
  /**
   * Still running when another model answered the request: a half-open probe or a slow attempt left to end on its
   * own (its own outcome decides the breaker, and is reported then by an `attempt` event with `background: true`).
   */
  | 'superseded'
  /** Its estimated cost would exceed the budget or the request's `maxCostUsd`. */
  | 'over_budget';

/** One attempt of the chain. */
export interface AttemptRecord {
  /** Configured model name. */
  model: string;
  outcome: AttemptOutcome;
  /** Time spent on this attempt (0 for a skipped model). */
  latencyMs: number;
  /** HTTP status from the provider, when there was one. */
  status?: number;
  /** Short, secret-free reason. Never the provider's body. */
  message?: string;
  /** True for an attempt started as a hedge, in parallel with the previous model. */
  hedged?: boolean;
  /** For a retry of the same model: which one (1 for the first). */
  retry?: number;
  /** True for an attempt started to rescue a slow one (a half-open probe, a model past its usual latency). */
  rescue?: boolean;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Cost in USD from the answering model's `price`; absent when it has none. */
  costUsd?: number;
}

/** What `ctx.llm.complete()` resolves with. */
export interface CompletionResult {
  text: string;
  /** Configured name of the model that answered. */
  model: string;
  /** The provider's model id that answered. */
  providerModel: string;
  /** True when served from the cache (no upstream call); `'semantic'` for a near-match of another prompt. */
  cached: boolean | 'semantic';
  /** Cosine similarity of the prompt whose answer was served, for a semantic hit. */
  similarity?: number;
  /** True when the answer came from a model other than the first of the chain. */
  fallback: boolean;
  /** True when this call joined an identical call already in flight instead of sending its own. */
  coalesced: boolean;
  attempts: AttemptRecord[];
  usage: Usage;
  /** `stop`, `length`, `content_filter`, … as the provider said. */
  finishReason: string;
  /** Wall time of this `complete()` call. */
  latencyMs: number;
  /** True when a hedged request was started (`model` says who won). */
  hedged: boolean;
  /** The parsed answer when a `schema` was given. */
  json?: unknown;
  /** The tool calls of the answer (`finishReason: 'tool_calls'`), each checked against the request's `tools`. */
  toolCalls?: ToolCall[];
  /** The model's refusal, when it declined to answer (`text` is then empty or its explanation). */
  refusal?: string;
  /** Fields of the provider's answer passed back as they came (OpenAI: `logprobs`, `system_fingerprint`, `service_tier`, `audio`). */
  providerMetadata?: Record<string, unknown>;
  /** Every choice, for a request that asked for several (`providerOptions.openai.n > 1`), each judged; the first is also `text`. */
  choices?: { index: number; text: string; finishReason: string; toolCalls?: ToolCall[]; refusal?: string; logprobs?: unknown }[];
  /** Set when old messages were dropped to fit a model's context window (`truncate: 'oldest'`). */
  contextTruncation?: { model: string; droppedIndexes: number[]; promptTokens: number };
}

/** Latency percentiles of successful attempts (ms); null until there is a sample. */
export interface LatencyStats {
  samples: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface ModelStatus {
  /** The model's name; for a deployment, `<model name>/<deployment name>`. */
  name: string;
  providerModel: string;
  /** For a deployment: the name of the model it serves. */
  group?: string;
  /** For a deployment: its own name (`name` is `<group>/<deployment>`). */
  deployment?: string;
  state: BreakerState;
  /** Failures counted in the breaker's rolling window. */
  failures: number;
  /** Successes counted in the breaker's rolling window. */
  successes: number;
  /** Epoch ms when the breaker may half-open; null unless open. */
  halfOpenAt: number | null;
  /** Epoch ms when a 429 cool-down ends; null when not cooling down. */
  cooldownUntil: number | null;
  /** Calls to this model in flight now. */
  inFlight: number;
  /** Latency of successful attempts per task (`'*'`: all tasks). */
  latency: Record<string, LatencyStats>;
  /** The current attempt timeout for requests without a task (adaptive or fixed). */
  timeoutMs: number;
  /** Totals since start of the answers this model gave. */
  spend: { requests: number; promptTokens: number; completionTokens: number; costUsd: number };
}

export interface CacheStatus {
  size: number;
  hits: number;
  misses: number;
  /** Distinct upstream calls in flight that other identical calls may join. */
  inFlight: number;
  /** Semantic hits since start, and prompt vectors held (0 when the semantic cache is off). */
  semanticHits: number;
  semanticSize: number;
}

export interface LlmStatus {
  models: ModelStatus[];
  /** Null when the cache is disabled or not mounted. */
  cache: CacheStatus | null;
  /** Health of the shared store(s); null when none is configured. */
  shared: SharedStoreHealth | null;
  /**
   * App-wide spend in USD over the last hour and day, the budget (null limits: none), and the estimated cost of
   * the calls in flight that a budget counts until they end (0 without a budget).
   */
  spend: { lastHourUsd: number; lastDayUsd: number; usdPerHour: number | null; usdPerDay: number | null; inFlightUsd: number };
}

/** Payloads of the engine's events. */
export interface LlmEventMap {
  /** After every attempt, whatever its outcome; `background`: an attempt that ended after its request was answered (see `superseded`). */
  attempt: AttemptRecord & { requestId: string; index: number; background?: boolean };
  /**
   * When the chain moves from one model to the next; `sameModel: true` when it moves to another deployment of the
   * same model (`from` and `to` are then `<model>/<deployment>` names of one model).
   */
  fallback: { requestId: string; from: string; to: string; reason: AttemptOutcome; sameModel?: true };
  'breaker:open': { model: string; halfOpenAt: number };
  'breaker:half_open': { model: string };
  'breaker:close': { model: string };
  'cache:hit': { requestId: string; key: string; latencyMs: number };
  'cache:miss': { requestId: string; key: string };
  /** A 429 put the model in cool-down: it is skipped, with no call, until `until` (epoch ms). */
  cooldown: { model: string; ms: number; until: number };
  /** A hedged request was started: `to` runs in parallel with the slow `from`. */
  hedge: { requestId: string; from: string; to: string; afterMs: number };
  /** A transient failure is retried on the same model after `delayMs` (`retry`: 1 for the first retry). */
  retry: { requestId: string; model: string; retry: number; delayMs: number; reason: AttemptOutcome; status?: number };
  /** The next model was started beside a slow attempt (`probe`: a half-open breaker's probe) that keeps running. */
  rescue: { requestId: string; from: string; to: string; afterMs: number; probe: boolean };
  /** Every `complete()`/`stream()` that ended, whatever the outcome. `text` is the answer (not logged). */
  request: RequestSummary;
  /**
   * A tenant was refused by one of its `tenantLimits` (429, no upstream call). `tenantId`: a hash of the tenant key
   * (the key itself is never in an event); `fleet`: decided in the shared store (false: in this process).
   */
  'tenant:limited': { requestId: string; tenantId: string; limit: 'requests' | 'tokens' | 'usd'; retryAfterS: number; fleet: boolean };
}

/** The `request` event: one per completed request. */
export interface RequestSummary {
  requestId: string;
  kind: 'complete' | 'stream';
  task?: string;
  chain: string[];
  outcome: 'success' | 'failed' | 'aborted' | 'rejected';
  model: string | null;
  cached: boolean | 'semantic';
  fallback: boolean;
  hedged: boolean;
  attempts: AttemptRecord[];
  usage: Usage | null;
  latencyMs: number;
  promptHash: string;
  text: string | null;
  finishReason: string | null;
  /** The first model's provider id (what was asked for). */
  requestedModel: string | null;
  /** The answering model's provider id. */
  providerModel: string | null;
  error?: { code: string; message: string };
}

export type LlmEventName = keyof LlmEventMap;
export type LlmEventListener<K extends LlmEventName> = (payload: LlmEventMap[K]) => void;
/** Call it to remove the listener. */
export type Unsubscribe = () => void;
