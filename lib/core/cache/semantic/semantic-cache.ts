import type { ResolvedSemantic } from '../../options/resolve-options';
import type { NormalizedRequest } from '../../request/normalize-request';
import type { SharedStore } from '../../shared/shared-store';
import type { AbortSource } from '../../signals';
import { hashOf, keyWithoutPrompt } from '../cache-key';
import { SemanticIndex } from './semantic-index';
import { timerDelay } from '../../timer-delay';
import type { Embedder, EmbedderFactory } from './embedder';

/** 2: partitions are the exact key without the prompt's text (1 left the last message's other members out). */
const VERSION = 2;

/** What a semantic lookup needs from a request that may use the semantic cache. */
export interface SemanticQuery {
  partition: string;
  prompt: string;
}

/**
 * The semantic cache: on an exact miss, the prompt is embedded (by the `Embedder` it is given) and compared with cached
 * prompts of the same partition. Safety first: hard partitions (everything the exact key covers but the
 * prompt's text: tenant scope, chain, every parameter, every message and member), a conservative threshold, meaning guards (negations, numbers), no non-deterministic
 * requests unless allowed, and a per-request opt-out for personalised prompts.
 */
export class SemanticCache {
  readonly index: SemanticIndex;
  readonly #embedder: Embedder;
  hits = 0;

  constructor(
    readonly options: ResolvedSemantic,
    private readonly store: SharedStore | null,
    embedder: EmbedderFactory,
    fetchImpl?: typeof globalThis.fetch,
  ) {
    this.index = new SemanticIndex(options.maxEntries);
    this.#embedder = embedder({ model: options.embeddingModel, baseURL: options.baseURL, apiKey: options.apiKey, fetch: fetchImpl });
  }

  /** Forgets the index and closes the embedder's connections. */
  close(): Promise<void> {
    this.index.clear();
    return Promise.resolve()
      .then(() => this.#embedder.close?.())
      .catch(() => undefined);
  }

  /** Null when this request must not use the semantic cache. */
  query(req: NormalizedRequest, scope: string, optedOut: boolean): SemanticQuery | null {
    if (optedOut || !req.useCache) return null;
    // a request with tools is an agent's step: a near-match of its prompt would call the wrong tool, or none
    if (req.tools !== undefined && req.tools.length > 0) return null;
    // The API's default temperature is 1: only an explicit 0 is deterministic.
    if (!this.options.allowNonDeterministic && req.temperature !== 0) return null;
    const last = req.messages[req.messages.length - 1];
    if (!last || last.role !== 'user' || typeof last.content !== 'string' || last.content.trim() === '') return null;
    // everything the exact key covers (tenant scope, chain, every message and parameter) but this one text
    const partition = hashOf({ v: VERSION, key: keyWithoutPrompt(req, scope), embeddingModel: this.options.embeddingModel });
    return { partition, prompt: last.content };
  }

  /** The prompt's embedding, or null when the embedding call fails or is too slow (the request goes on). */
  async embed(text: string, signal?: AbortSource, maxMs = Infinity): Promise<Float32Array | null> {
    if (maxMs < 1) return null;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timerDelay(Math.min(this.options.timeoutMs, maxMs)));
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const vectors = await this.#embedder.embed([text], controller.signal);
      const v = Array.isArray(vectors) ? vectors[0] : undefined;
      return isVector(v) ? Float32Array.from(v) : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Remembers a cached answer's prompt vector (and shares it through the store, for processes that start later). */
  remember(q: SemanticQuery, vector: Float32Array, answerKey: string, ttlMs: number): void {
    const expiresAt = Date.now() + ttlMs;
    this.index.add({ partition: q.partition, answerKey, prompt: q.prompt, vector, expiresAt });
    if (this.store) {
      const value = JSON.stringify({ klr: VERSION, p: q.partition, k: answerKey, t: q.prompt, e: expiresAt, v: Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') });
      void this.store.set(`sem:${answerKey}`, value, ttlMs);
    }
  }

  /** Loads the vectors other processes shared (best-effort, bounded by `maxEntries`). */
  async warm(): Promise<number> {
    if (!this.store) return 0;
    const keys = await this.store.scan('sem:*', this.options.maxEntries);
    let loaded = 0;
    for (const key of keys) {
      const raw = await this.store.get(key);
      if (raw === null) continue;
      try {
        const e = JSON.parse(raw) as { klr: number; p: string; k: string; t: string; e: number; v: string };
        if (e.klr !== VERSION || typeof e.p !== 'string' || typeof e.k !== 'string' || typeof e.t !== 'string' || !(e.e > Date.now())) continue;
        const buf = Buffer.from(e.v, 'base64');
        const vector = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        this.index.add({ partition: e.p, answerKey: e.k, prompt: e.t, vector, expiresAt: e.e });
        loaded++;
      } catch {
        void this.store.del(key);
      }
    }
    return loaded;
  }
}

/** A usable embedding: a non-empty array (or typed array) of finite numbers. */
function isVector(v: unknown): v is ArrayLike<number> {
  if (!Array.isArray(v) && !(v instanceof Float32Array) && !(v instanceof Float64Array)) return false;
  const a = v as ArrayLike<unknown>;
  if (a.length === 0) return false;
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number' || !Number.isFinite(a[i])) return false;
  return true;
}
