import { LRUCache } from 'lru-cache';
import type { CacheStatus, Usage } from '../../types';
import type { EventBus } from '../events/event-bus';
import type { ResolvedCache } from '../options/resolve-options';
import { SingleFlight } from './single-flight';

/** What is stored for a complete, successful answer. */
export interface CachedAnswer {
  readonly text: string;
  readonly model: string;
  readonly providerModel: string;
  readonly fallback: boolean;
  readonly usage: Usage;
  readonly finishReason: string;
  readonly json?: unknown;
}

/** In-process LRU of answers, plus single-flight for identical requests in flight. */
export class ResponseCache {
  readonly #lru: LRUCache<string, CachedAnswer>;
  readonly #options: ResolvedCache;
  readonly flights = new SingleFlight<unknown>();
  hits = 0;
  misses = 0;

  constructor(
    options: ResolvedCache,
    /** Receives `cache:hit` / `cache:miss`. */
    readonly events: EventBus,
  ) {
    this.#options = options;
    this.#lru = new LRUCache<string, CachedAnswer>({
      max: options.max,
      ttl: options.ttlMs,
      ...(options.maxBytes !== undefined
        ? { maxSize: options.maxBytes, sizeCalculation: (v: CachedAnswer, k: string) => Buffer.byteLength(v.text) + k.length + 64 }
        : {}),
    });
  }

  get scope(): ResolvedCache['scope'] {
    return this.#options.scope;
  }

  get(key: string): CachedAnswer | undefined {
    const v = this.#lru.get(key);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  /** Stores an answer; degraded (fallback) answers live for `fallbackTtlMs` only. */
  set(key: string, answer: CachedAnswer): void {
    const ttl = answer.fallback ? this.#options.fallbackTtlMs : this.#options.ttlMs;
    if (ttl <= 0) return;
    if (this.#options.maxBytes !== undefined && Buffer.byteLength(answer.text) + key.length + 64 > this.#options.maxBytes) return;
    this.#lru.set(key, answer, { ttl });
  }

  status(): CacheStatus {
    return { size: this.#lru.size, hits: this.hits, misses: this.misses, inFlight: this.flights.size };
  }

  clear(): void {
    this.#lru.clear();
  }
}
