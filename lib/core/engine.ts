import type { CompletionRequest, CompletionResult, EngineOptions, LlmEventListener, LlmEventName, LlmStatus, Unsubscribe } from '../types';
import { BreakerRegistry } from './breaker/breaker-registry';
import { ResponseCache } from './cache/response-cache';
import { type CallContext, complete } from './complete';
import { EventBus } from './events/event-bus';
import { FallbackChain } from './fallback/fallback-chain';
import { type ResolvedOptions, resolveOptions } from './options/resolve-options';
import { attachLogger } from './observability/request-logger';
import { attachTracing } from './observability/tracing';
import { ReviewLog } from './observability/review-log';
import { FleetSync } from './shared/fleet-sync';
import { buildStatus } from './status';
import type { LlmStream } from './stream/llm-stream';
import { llmStream } from './stream/stream-completion';
import type { EmbedderFactory } from './cache/semantic/embedder';
import type { DefaultProviderFactory } from './provider/provider-port';
import { tenantLimitsOf } from './limits/tenant-limits';

/**
 * What the core is handed rather than importing: the provider of the models without one of their own, and the
 * semantic cache's embedder. The library's are the OpenAI-compatible ones (`lib/defaults.ts`), given by the
 * top-level `LlmEngine` (`lib/engine.ts`); the core knows no provider SDK.
 */
export interface EngineDefaults {
  readonly provider: DefaultProviderFactory;
  readonly embedder: EmbedderFactory;
}

/**
 * The framework-free core: cache → breaker per model → fallback chain. Create it once per app;
 * it owns one breaker per model, one LRU cache and the default provider's clients until `close()`.
 * Apps use the top-level `LlmEngine` (`createEngine`), which hands this one the library's defaults.
 */
export class LlmEngine {
  readonly options: ResolvedOptions;
  readonly events = new EventBus();
  readonly chain: FallbackChain;
  readonly breakers: BreakerRegistry;
  readonly cache: ResponseCache | null;
  #fleet: FleetSync | null = null;
  /** Requests answered by a fallback model or with an invalid attempt (see `reviewLogSize`, `onFallback`). */
  readonly reviewLog: ReviewLog;
  readonly #detach: (() => void)[] = [];
  readonly #layers: { cache: ResponseCache | null; breakers: BreakerRegistry };
  readonly #onClose = new Set<() => void>();
  #closed = false;

  constructor(options: EngineOptions, defaults: EngineDefaults) {
    this.options = resolveOptions(options);
    this.chain = new FallbackChain(this.options, this.events, defaults.provider);
    this.chain.tenantLimits = tenantLimitsOf(this.options, this.events);
    this.breakers = new BreakerRegistry(this.options.breaker, this.events);
    for (const m of this.options.models) this.breakers.for(m.name);
    this.cache = this.options.cache ? new ResponseCache(this.options.cache, this.events, this.options.fetch, this.options.models, defaults.embedder) : null;
    this.#layers = { cache: this.cache, breakers: this.breakers };
    this.reviewLog = new ReviewLog(this.options.reviewLogSize, this.options.onFallback);
    if (this.options.reviewLogSize > 0 || this.options.onFallback) {
      // filtered: a request that needs no review gets no summary built (unless someone else listens)
      this.#detach.push(this.events.onRequestWhere(ReviewLog.wants, (s) => this.reviewLog.consider(s)));
    }
    if (this.options.logger) this.#detach.push(attachLogger(this.events, this.options.logger));
    if (this.options.tracing) this.#detach.push(attachTracing(this.events, (m) => this.breakers.peek(m)?.state ?? 'closed'));
    if (this.options.shared) {
      this.#fleet = new FleetSync(this.options.shared, this.options.models, this.breakers, this.chain.cooldowns, this.events);
      this.chain.fleet = this.#fleet;
      // Subscribing and warming up is best-effort and never delays start-up.
      void this.#fleet.start();
    }
  }

  complete(request: CompletionRequest, call?: CallContext): Promise<CompletionResult> {
    return complete(this.chain, this.#layers, this.events, request, call);
  }

  /** The same chain, streamed. Iterate the returned stream for text deltas. */
  stream(request: CompletionRequest, call?: CallContext): LlmStream {
    return llmStream(this.chain, this.#layers, this.events, request, call);
  }

  on<K extends LlmEventName>(event: K, listener: LlmEventListener<K>): Unsubscribe {
    return this.events.on(event, listener);
  }

  status(): LlmStatus {
    return buildStatus(this.chain, this.breakers, this.cache, this.options.shared ?? null);
  }

  /** Runs `fn` when the engine closes (e.g. to end a dashboard feed). Returns the function that unregisters it. */
  onClose(fn: () => void): () => void {
    this.#onClose.add(fn);
    return () => this.#onClose.delete(fn);
  }

  /** Releases every breaker timer, cache entry and client. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fn of [...this.#onClose]) {
      try {
        fn();
      } catch {
        // closing goes on
      }
    }
    this.#onClose.clear();
    for (const off of this.#detach) off();
    this.#fleet?.close();
    this.breakers.close();
    const cacheClosed = this.cache?.close();
    const upstreamClosed = this.chain.close();
    this.events.clear();
    // The stores were handed to this engine: their connections are released too (a client you passed in is not).
    const stores = new Set([this.options.shared, this.options.cache ? this.options.cache.store : undefined].filter((x) => x !== undefined));
    await Promise.all([upstreamClosed, cacheClosed, ...[...stores].map((s) => s.close())]);
  }
}
