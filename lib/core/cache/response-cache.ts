import { LRUCache } from 'lru-cache';
import type { CacheStatus, Usage } from '../../types';
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../events/event-bus';
import type { AbortSource } from '../signals';
import type { SharedStore } from '../shared/shared-store';
import { SemanticCache } from './semantic/semantic-cache';
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

const VERSION = 1;
type Encoded = { klr: number; e: number; a: CachedAnswer };

/** Another process answered while we waited, or we hold the fleet-wide fill lock (release it when done). */
export type FleetFill = { answer: CachedAnswer } | { release: () => void };

/**
 * In-process LRU of answers, plus single-flight for identical requests in flight; optionally a second tier in
 * a shared store (values carry a version tag; one that does not parse is a miss and is deleted).
 */
export class ResponseCache {
  readonly store: SharedStore | null;
  /** Near-match lookup, when `cache.semantic` is set. */
  readonly semantic: SemanticCache | null;
  readonly #lru: LRUCache<string, CachedAnswer>;
  readonly #options: ResolvedCache;
  readonly flights = new SingleFlight<unknown>();
  hits = 0;
  misses = 0;

  constructor(
    options: ResolvedCache,
    /** Receives `cache:hit` / `cache:miss`. */
    readonly events: EventBus,
    fetchImpl?: typeof globalThis.fetch,
  ) {
    this.#options = options;
    this.store = options.store ?? null;
    this.semantic = options.semantic ? new SemanticCache(options.semantic, this.store, fetchImpl) : null;
    // Vectors other processes shared: best-effort, never delays start-up.
    if (this.semantic && this.store) void this.semantic.warm();
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

  /** Both tiers: the LRU, then the shared store (whose hits are copied into the LRU for their remaining TTL). */
  async lookup(key: string): Promise<CachedAnswer | undefined> {
    const local = this.#lru.get(key);
    if (local !== undefined || !this.store) {
      if (local === undefined) this.misses++;
      else this.hits++;
      return local;
    }
    const shared = this.#decode(key, await this.store.get(`cache:${key}`));
    if (shared === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#lru.set(key, shared.a, { ttl: Math.max(1, shared.e - Date.now()) });
    return shared.a;
  }

  /** Stores an answer in both tiers; degraded (fallback) answers live for `fallbackTtlMs` only. */
  set(key: string, answer: CachedAnswer): void {
    const ttl = this.ttlFor(answer);
    if (ttl <= 0) return;
    if (this.#options.maxBytes !== undefined && Buffer.byteLength(answer.text) + key.length + 64 > this.#options.maxBytes) return;
    this.#lru.set(key, answer, { ttl });
    if (this.store) {
      const encoded: Encoded = { klr: VERSION, e: Date.now() + ttl, a: answer };
      void this.store.set(`cache:${key}`, JSON.stringify(encoded), ttl);
    }
  }

  /**
   * Single-flight across processes for a miss: take a short lock (SET NX), or wait for the process that holds
   * it to store the answer. After `lockWaitMs`, if the holder gave up, or if the store is unavailable, the
   * caller asks the provider itself.
   */
  /** `maxWaitMs`: what is left of the request's deadline (the wait for another process's answer stops there too). */
  async fleetFill(key: string, signal: AbortSource, maxWaitMs = Infinity): Promise<FleetFill> {
    const store = this.store;
    if (!store) return { release: () => undefined };
    const token = randomUUID();
    const lockKey = `lock:${key}`;
    const waitMs = this.#options.lockWaitMs;
    const got = await store.setIfAbsent(lockKey, token, Math.max(1000, waitMs * 2));
    if (got !== false) return { release: () => (got ? void store.del(lockKey) : undefined) };
    const until = Date.now() + Math.min(waitMs, maxWaitMs);
    while (Date.now() < until && !signal.aborted) {
      await new Promise((r) => setTimeout(r, 20));
      const r = await store.getWithLock(`cache:${key}`, lockKey);
      if (!r) break; // store unavailable: ask the provider
      const v = this.#decode(key, r.value);
      if (v) {
        this.#lru.set(key, v.a, { ttl: Math.max(1, v.e - Date.now()) });
        return { answer: v.a };
      }
      if (!r.locked) break; // the holder gave up without storing (failure or an uncacheable answer)
    }
    return { release: () => undefined };
  }

  #decode(key: string, raw: string | null): Encoded | undefined {
    if (raw === null) return undefined;
    try {
      const v = JSON.parse(raw) as Encoded;
      const a = v?.a;
      if (v?.klr === VERSION && typeof v.e === 'number' && a && typeof a.text === 'string' && typeof a.model === 'string' && typeof a.usage === 'object' && v.e > Date.now()) return v;
    } catch {
      // fall through: garbage
    }
    void this.store?.del(`cache:${key}`);
    return undefined;
  }

  /** How long an answer lives: degraded (fallback) answers only `fallbackTtlMs`. */
  ttlFor(answer: Pick<CachedAnswer, 'fallback'>): number {
    return answer.fallback ? this.#options.fallbackTtlMs : this.#options.ttlMs;
  }

  status(): CacheStatus {
    return {
      size: this.#lru.size,
      hits: this.hits,
      misses: this.misses,
      inFlight: this.flights.size,
      semanticHits: this.semantic?.hits ?? 0,
      semanticSize: this.semantic?.index.size ?? 0,
    };
  }

  clear(): void {
    this.#lru.clear();
    this.semantic?.index.clear();
  }

  /** Clears the cache and closes the semantic lookup's connections (the shared store is closed by its owner). */
  close(): Promise<void> {
    this.#lru.clear();
    return this.semantic?.close() ?? Promise.resolve();
  }
}
