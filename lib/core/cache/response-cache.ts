import { LRUCache } from 'lru-cache';
import type { CacheStatus, Usage } from '../../types';
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../events/event-bus';
import type { AbortSource } from '../signals';
import type { SharedStore, StoreBudget } from '../shared/shared-store';
import { SemanticCache } from './semantic/semantic-cache';
import type { EmbedderFactory } from './semantic/embedder';
import type { ResolvedCache } from '../options/resolve-options';
import { SingleFlight } from './single-flight';
import type { PieceBroadcast } from './piece-broadcast';
import { copyForJoiner, deliver, type FlightValue, freezeParsed, frozenSnapshot } from './answer-copies';
import { MAX_SHARED_ENTRY_CHARS, parseSharedEntry, SHARED_ENTRY_VERSION, type SharedEntry } from './shared-entry';

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

/**
 * Whether an entry may be served to the request looking it up (its content meets the request's rules). It must
 * depend on nothing but what the key covers: an entry it refuses is deleted, from the LRU and the shared store.
 */
export type AcceptEntry = (answer: CachedAnswer) => boolean;

/** Another process answered while we waited, or we hold the fleet-wide fill lock (release it when done). */
export type FleetFill = { answer: CachedAnswer } | { release: () => void };

/**
 * In-process LRU of answers, plus single-flight for identical requests in flight; optionally a second tier in
 * a shared store (values carry a version tag; one that is not exactly what this version writes is a miss and is
 * deleted). The LRU holds deep-frozen snapshots nobody else holds; `get`, `lookup` and `fleetFill` hand each
 * caller its own copy, and a caller that joins a flight gets its own copy of the flight's answer.
 */
export class ResponseCache {
  readonly store: SharedStore | null;
  /** Near-match lookup, when `cache.semantic` is set. */
  readonly semantic: SemanticCache | null;
  readonly #lru: LRUCache<string, CachedAnswer>;
  readonly #options: ResolvedCache;
  /** Identical requests in flight, `complete()` and streams alike (a stream's flight publishes its pieces). */
  readonly flights = new SingleFlight<FlightValue, PieceBroadcast>(copyForJoiner);
  /** Model names an entry read from the shared store may name (null: not known here, any name). */
  readonly #models: ReadonlySet<string> | null;
  hits = 0;
  misses = 0;

  constructor(
    options: ResolvedCache,
    /** Receives `cache:hit` / `cache:miss`. */
    readonly events: EventBus,
    fetchImpl?: typeof globalThis.fetch,
    /** The models configured in this app: a shared entry naming another is a miss. */
    models?: readonly { readonly name: string }[],
    /** Makes the semantic lookup's embedder (needed when `cache.semantic` is set; see `EngineDefaults`). */
    embedder?: EmbedderFactory,
  ) {
    this.#options = options;
    this.#models = models ? new Set(models.map((m) => m.name)) : null;
    this.store = options.store ?? null;
    if (options.semantic && !embedder) throw new Error('the semantic cache needs an embedder factory');
    this.semantic = options.semantic && embedder ? new SemanticCache(options.semantic, this.store, embedder, fetchImpl) : null;
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

  /** The LRU alone; the caller gets its own copy. An entry `accept` refuses is a miss, and is deleted. */
  get(key: string, accept?: AcceptEntry): CachedAnswer | undefined {
    const v = this.#local(key, accept);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return deliver(v);
  }

  /**
   * Both tiers: the LRU, then the shared store (whose hits are copied into the LRU for their remaining TTL). The
   * caller gets its own copy. `budget`: what this request may still wait on the shared store, all calls together.
   * An entry `accept` refuses is a miss in that tier, and is deleted there.
   */
  async lookup(key: string, budget?: StoreBudget, accept?: AcceptEntry): Promise<CachedAnswer | undefined> {
    const local = this.#local(key, accept);
    if (local !== undefined || !this.store) {
      if (local === undefined) this.misses++;
      else this.hits++;
      return local === undefined ? undefined : deliver(local);
    }
    const shared = this.#decode(key, await this.store.get(`cache:${key}`, budget));
    if (shared === undefined || (accept && !accept(shared.a))) {
      if (shared !== undefined) void this.store.del(`cache:${key}`);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return deliver(this.#remember(key, shared));
  }

  /**
   * Stores an answer in both tiers; degraded (fallback) answers live for `fallbackTtlMs` only. What is stored is a
   * snapshot: the caller keeps its answer to itself and may change it.
   */
  set(key: string, answer: CachedAnswer): void {
    const ttl = this.ttlFor(answer);
    if (ttl <= 0) return;
    if (this.#options.maxBytes !== undefined && Buffer.byteLength(answer.text) + key.length + 64 > this.#options.maxBytes) return;
    const snapshot = frozenSnapshot(answer);
    this.#lru.set(key, snapshot, { ttl });
    if (this.store) {
      const encoded: SharedEntry = { klr: SHARED_ENTRY_VERSION, e: Date.now() + ttl, a: snapshot };
      const raw = JSON.stringify(encoded);
      if (raw.length <= MAX_SHARED_ENTRY_CHARS) void this.store.set(`cache:${key}`, raw, ttl);
    }
  }

  /** The LRU's entry for a key, unless `accept` refuses it (then it is deleted). */
  #local(key: string, accept: AcceptEntry | undefined): CachedAnswer | undefined {
    const v = this.#lru.get(key);
    if (v === undefined || !accept || accept(v)) return v;
    this.#lru.delete(key);
    return undefined;
  }

  /** An entry read from the shared store, kept in the LRU for what is left of its TTL (at most this cache's own). */
  #remember(key: string, entry: SharedEntry): CachedAnswer {
    const answer = freezeParsed(entry.a);
    this.#lru.set(key, answer, { ttl: Math.max(1, Math.min(entry.e - Date.now(), this.ttlFor(answer))) });
    return answer;
  }

  /**
   * Single-flight across processes for a miss: take a short lock (SET NX), or wait for the process that holds
   * it to store the answer. After `lockWaitMs`, if the holder gave up, or if the store is unavailable, the
   * caller asks the provider itself.
   */
  /**
   * `maxWaitMs`: what is left of the request's deadline (the wait for another process's answer stops there too).
   * `budget`: what the request may still wait on the shared store (taking the lock spends from it; the wait for
   * another process's answer is `lockWaitMs`, and ends at the first poll the store does not answer).
   * `accept`: an entry it refuses is not the answer waited for (the lock holder is there to replace it).
   */
  async fleetFill(key: string, signal: AbortSource, maxWaitMs = Infinity, budget?: StoreBudget, accept?: AcceptEntry): Promise<FleetFill> {
    const store = this.store;
    if (!store) return { release: () => undefined };
    const token = randomUUID();
    const lockKey = `lock:${key}`;
    const waitMs = this.#options.lockWaitMs;
    const got = await store.setIfAbsent(lockKey, token, Math.max(1000, waitMs * 2), budget);
    if (got !== false) return { release: () => (got ? void store.del(lockKey) : undefined) };
    const until = Date.now() + Math.min(waitMs, maxWaitMs);
    while (Date.now() < until && !signal.aborted) {
      await new Promise((r) => setTimeout(r, 20));
      const r = await store.getWithLock(`cache:${key}`, lockKey);
      if (!r) break; // store unavailable: ask the provider
      const v = this.#decode(key, r.value);
      if (v && (!accept || accept(v.a))) return { answer: deliver(this.#remember(key, v)) };
      if (!r.locked) break; // the holder gave up without storing (failure or an uncacheable answer)
    }
    return { release: () => undefined };
  }

  /** A value read from the shared store: exactly what this version writes, or a miss (and the key is deleted). */
  #decode(key: string, raw: string | null): SharedEntry | undefined {
    if (raw === null) return undefined;
    const v = parseSharedEntry(raw, this.#models, Date.now());
    if (v === undefined) void this.store?.del(`cache:${key}`);
    return v;
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
