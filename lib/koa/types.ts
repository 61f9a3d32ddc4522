import type { Middleware, ParameterizedContext } from 'koa';
import type { LlmStream } from '../core/stream/llm-stream';
import type { CompletionRequest, CompletionResult, EngineCacheOptions, EngineOptions, LlmEventListener, LlmEventName, LlmStatus, Unsubscribe } from '../types';

/** In-process LRU cache settings (with a Koa app's tenant scope). */
export interface CacheOptions extends EngineCacheOptions {
  /** Tenant scope: requests whose scope differs never share an entry. Default: one scope for all. */
  scope?: (ctx: ParameterizedContext) => string;
}

/** Options of `llmResilience()` (and of each middleware used alone). */
export interface LlmResilienceOptions extends EngineOptions {
  /** Response cache; `false` disables it. Default: `{}` (all defaults). */
  cache?: CacheOptions | false;
  /** The request's tenant for `tenantLimits` (undefined or '': none). Default: the cache's `scope`. */
  tenant?: (ctx: ParameterizedContext) => string | undefined;
}

/** What route handlers get as `ctx.llm`. */
export interface LlmContext {
  /** Runs the request through cache → breakers → fallback chain. */
  complete(request: CompletionRequest): Promise<CompletionResult>;
  /** The same chain, streamed: iterate for text deltas; `result` resolves when it has ended. */
  stream(request: CompletionRequest): LlmStream;
  /** Answers this request with Server-Sent Events from `stream(request)` (see `sendSSE`). */
  sse(request: CompletionRequest): Promise<void>;
  /** The same snapshot as the middleware's `status()`. */
  status(): LlmStatus;
}

/** A Koa middleware that also exposes the resilience layer's state and lifecycle. */
export type LlmMiddleware = Middleware & {
  /** Breaker state, cool-down and counters of every model, and the cache's counters. */
  status(): LlmStatus;
  /** Shuts down every breaker, timer, cache and client so the process can exit. Idempotent. */
  close(): Promise<void>;
  /** Subscribes to a typed event; returns the function that unsubscribes. */
  on<K extends LlmEventName>(event: K, listener: LlmEventListener<K>): Unsubscribe;
};

declare module 'koa' {
  interface DefaultContext {
    /** Added by `llmResilience()` / `fallbackMiddleware()`. */
    llm: LlmContext;
  }
}
