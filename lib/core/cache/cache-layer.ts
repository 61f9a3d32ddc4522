import type { StreamResult, Usage } from '../../types';
import { costUsd } from '../cost/spend-tracker';
import type { ChainSuccess } from '../fallback/fallback-chain';
import type { NormalizedRequest } from '../request/normalize-request';
import { AbortLatch, type AbortSource, unlessAborted } from '../signals';
import { timerDelay } from '../timer-delay';
import { cutAccepted, servableAnswer } from '../validation/answer-check';
import type { FlightValue } from './answer-copies';
import { cacheKey, scopeOf } from './cache-key';
import type { PieceBroadcast } from './piece-broadcast';
import type { AcceptEntry, CachedAnswer, FleetFill, ResponseCache } from './response-cache';
import type { SemanticQuery } from './semantic/semantic-cache';
import { answeredKind, OUTCOME_TABLE } from '../fallback/outcome-table';
import { OPTION_DEFAULTS } from '../options/option-defaults';

/** What a lookup found: the exact key's answer, or a near-match's (`similarity`, rounded to 4 decimals). */
export type CacheHit =
  | { kind: 'exact'; answer: CachedAnswer; latencyMs: number }
  | { kind: 'semantic'; answer: CachedAnswer; similarity: number; latencyMs: number };

/** How a flight ended for one of the requests in it: its value, and whether the request joined another's call. */
export interface FlightEnd {
  value: FlightValue;
  joined: boolean;
}

/** What makes the one call of a flight: `complete()`'s chain run, or a stream's walk (whose pieces it publishes). */
export type Produce = (signal: AbortSource) => Promise<ChainSuccess | { streamed: StreamResult }>;

/**
 * One request's use of the cache, the same for `complete()` and for streams: the lookups (exact, then semantic on
 * an exact miss, with the `cache:hit` / `cache:miss` events), then one call per flight key (single-flight within the
 * process, and the shared store's fill lock across processes), the fill rule and the semantic remember, and whether
 * an answer this request did not ask for itself (another's call, another process's) is one it accepts. How the
 * answer is delivered (whole, or as pieces) is the caller's.
 */
export class CacheLayer {
  readonly key: string;
  /** Which requests share one call (see `flightKey`). */
  readonly flightKey: string;
  /** Absolute `performance.now()` deadline: the cache's steps spend from the request's deadline too. */
  readonly deadlineAt: number;
  readonly #scope: string;
  /** One shared-store timeout for all of this request's calls to the store. */
  readonly #storeWait = { spentMs: 0 };
  readonly #accept: AcceptEntry;
  /** The prompt's embedding, once the semantic lookup made it: a filled answer is remembered under it. */
  #semantic: { query: SemanticQuery; vector: Float32Array } | null = null;

  constructor(
    readonly cache: ResponseCache,
    readonly req: NormalizedRequest,
    scope: string | undefined,
    readonly requestId: string,
    /** When the request started (`performance.now()`). */
    readonly started: number,
  ) {
    this.#scope = scopeOf(scope);
    this.key = cacheKey(req, this.#scope);
    this.flightKey = flightKey(this.key, req);
    // an entry is served only if its content meets this request's rules (see `servableAnswer`); else it is a miss
    this.#accept = acceptFor(req);
    this.deadlineAt = req.deadlineMs === undefined ? Infinity : started + req.deadlineMs;
  }

  /**
   * The exact lookup, then, on a miss, the semantic one (opt-in, deterministic requests only, within the partition).
   * A hit must pass this request's own `validate` hook. `signal`: the caller's, which stops the embedding call.
   */
  async lookup(signal: AbortSource | undefined): Promise<CacheHit | null> {
    const { cache, req, key } = this;
    const hit = cache.store ? await cache.lookup(key, this.#storeWait, this.#accept) : cache.get(key, this.#accept);
    if (hit && (await passesValidate(req, hit))) {
      const latencyMs = since(this.started);
      cache.events.emit('cache:hit', { requestId: this.requestId, key, latencyMs });
      return { kind: 'exact', answer: hit, latencyMs };
    }
    cache.events.emit('cache:miss', { requestId: this.requestId, key });

    const semantic = cache.semantic;
    const sq = semantic?.query(req, this.#scope, req.semanticOptOut) ?? null;
    if (!semantic || !sq) return null;
    const vector = await semantic.embed(sq.prompt, signal, this.deadlineAt - performance.now());
    if (!vector) return null;
    this.#semantic = { query: sq, vector };
    const found = semantic.index.search(sq.partition, sq.prompt, vector, semantic.options.threshold);
    if (!found) return null;
    const answerKey = found.entry.answerKey;
    const answer = cache.store ? await cache.lookup(answerKey, this.#storeWait, this.#accept) : cache.get(answerKey, this.#accept);
    if (answer && (await passesValidate(req, answer))) {
      semantic.hits++;
      const latencyMs = since(this.started);
      cache.events.emit('cache:hit', { requestId: this.requestId, key: answerKey, latencyMs });
      return { kind: 'semantic', answer, similarity: Math.round(found.similarity * 10_000) / 10_000, latencyMs };
    }
    if (!answer) semantic.index.remove(found.entry);
    return null;
  }

  /**
   * One call per flight key, whoever asks (`complete()` or a stream): the first request's `produce` makes it, with
   * the shared store's fill lock first (another process already asking: its answer is waited for, within this
   * request's deadline, and is the flight's value); the answer is filled in by the one rule (`fillable`). The
   * others join: they leave on their own `callerSignal`, and the call is cancelled only when every one has left.
   * `progress`: what the call publishes for those who join it (a stream's pieces); see `following`.
   */
  flight(callerSignal: AbortSource | undefined, produce: Produce, progress?: PieceBroadcast): Promise<FlightEnd> {
    const cache = this.cache;
    return cache.flights.run(
      this.flightKey,
      async (signal, publish): Promise<FlightValue> => {
        if (progress) publish(progress);
        // (no shared store: nothing to wait for, so no await either)
        const fleet = cache.store ? await cache.fleetFill(this.key, signal, this.deadlineAt - performance.now(), this.#storeWait, this.#accept) : LOCAL_FILL;
        if ('answer' in fleet) return { shared: fleet.answer };
        try {
          const value = await produce(signal);
          this.#fill(value);
          return value;
        } finally {
          fleet.release();
        }
      },
      callerSignal,
    );
  }

  /** The pieces of the stream making this request's call, when the call in flight is a stream's. */
  following(): PieceBroadcast | undefined {
    return this.cache.flights.published(this.flightKey);
  }

  /**
   * Whether this request takes a flight's answer as it would take its own: another process's must pass its own
   * `validate` hook (as a cache hit must); another request's call was judged by that request's rules (see
   * `joinerAccepts`). A request that does not accept it makes its own call, which is not cached.
   */
  accepts(end: FlightEnd): Promise<boolean> | boolean {
    const v = end.value;
    if ('shared' in v) return passesValidate(this.req, v.shared);
    return !end.joined || joinerAccepts(this.req, v);
  }

  /** The fill: the answer under the key, and its prompt's embedding in the semantic index (when it was made). */
  #fill(value: ChainSuccess | { streamed: StreamResult }): void {
    const answer = cachedAnswerOf(value);
    if (!fillable(answer, 'streamed' in value ? value.streamed : value.answer)) return;
    this.cache.set(this.key, answer);
    const ttl = this.cache.ttlFor(answer);
    const s = this.#semantic;
    if (s && ttl > 0) this.cache.semantic?.remember(s.query, s.vector, this.key, ttl);
  }
}

/**
 * The fill rule, one for `complete()` and streams: only a complete answer is cached (finish reason `stop`), never a
 * cut one (`length`, even where the request accepts it), a filtered one or an error; a stream that was interrupted
 * has no answer to cache at all.
 */
export function fillable(answer: Pick<CachedAnswer, 'finishReason'>, calls?: { toolCalls?: unknown; refusal?: unknown; moreChoices?: unknown }): boolean {
  // (nor several choices: an entry holds one answer)
  if (calls !== undefined && 'moreChoices' in calls && calls.moreChoices !== undefined) return false;
  // tool calls and refusals are never cached: a tool call's id must be new for every conversation, and a refusal
  // is an answer to be given once, not served to whoever asks the same
  if (calls !== undefined && (calls.toolCalls !== undefined || calls.refusal !== undefined)) return false;
  return OUTCOME_TABLE[answeredKind(answer.finishReason).kind].cacheable;
}

/** What the cache would store of a call's answer (the chain's, or a stream's). */
function cachedAnswerOf(value: ChainSuccess | { streamed: StreamResult }): CachedAnswer {
  if ('streamed' in value) {
    const r = value.streamed;
    return { text: r.text, model: r.model, providerModel: r.providerModel, fallback: r.fallback, usage: r.usage, finishReason: r.finishReason, ...(r.json !== undefined ? { json: r.json } : {}) };
  }
  return {
    text: value.answer.text,
    model: value.model.name,
    providerModel: value.answer.providerModel,
    fallback: value.fallback,
    usage: usageWithCost(value),
    finishReason: value.answer.finishReason,
    ...(value.json !== undefined ? { json: value.json } : {}),
  };
}

/**
 * Whether a request that joined another's call accepts its answer, as it would from its own: the call judged it
 * with the first caller's `validate` hook and `acceptTruncated`, not necessarily this one's.
 */
export async function joinerAccepts(req: NormalizedRequest, value: ChainSuccess | { streamed: StreamResult }): Promise<boolean> {
  if ('streamed' in value) {
    const r = value.streamed;
    const model = req.chain.find((m) => m.name === r.model) ?? { maxOutputTokens: undefined };
    if (r.finishReason === 'length' && !cutAccepted(req, model)) return false;
    return passesValidate(req, r);
  }
  if (value.answer.finishReason === 'length' && !cutAccepted(req, value.model)) return false;
  return passesValidate(req, { text: value.answer.text, model: value.model.name, json: value.json });
}

/**
 * Identical requests share one call (a flight), and with it its deadline: so only requests with the same
 * `deadlineMs` share one. A request never waits past its own deadline for another's call (one that joins later
 * ends at most as much before its own deadline as it joined later), and nobody fails on a deadline it did not set.
 * (How answers are judged is per request: see `joinerAccepts`.) Streams and `complete()` share flights: the key
 * covers neither how the answer is delivered nor the request's hooks.
 */
export function flightKey(key: string, req: NormalizedRequest): string {
  return req.deadlineMs === undefined ? key : `${key}:${req.deadlineMs}`;
}

/**
 * What a cache lookup for this request serves: an entry whose content meets the rules an answer from the provider
 * must meet (text not blank; with a schema, `json` that it accepts). Anything else would have been a failed
 * attempt; as an entry it is a miss (and is deleted). The rules depend on nothing but what the key covers.
 */
export function acceptFor(req: NormalizedRequest): AcceptEntry {
  return (answer) => servableAnswer(answer, req);
}

/**
 * A cached or shared answer must still pass this request's own `validate` hook (the schema is part of the key;
 * the content rules every answer must meet are checked by the lookup itself, see `acceptFor`).
 * A hook that does not settle within the request's attempt timeout (`timeoutMs`, else the first model's) fails.
 */
export async function passesValidate(req: NormalizedRequest, hit: Pick<CachedAnswer, 'text' | 'model' | 'json'>): Promise<boolean> {
  const hook = req.validate;
  if (!hook) return true;
  const limit = new AbortLatch();
  const timer = setTimeout(() => limit.abort(), timerDelay(req.timeoutMs ?? req.chain[0]?.timeoutMs ?? OPTION_DEFAULTS.models.timeoutMs));
  timer.unref(); // a hook still pending never keeps a closing process alive
  try {
    const verdict = Promise.resolve().then(() => hook(hit.json !== undefined ? { text: hit.text, json: hit.json, model: hit.model } : { text: hit.text, model: hit.model }));
    return (await unlessAborted(verdict, limit)) === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The chain's answer's usage, with its cost from the answering model's price. */
export function usageWithCost(s: ChainSuccess): Usage {
  const u: Usage = { ...s.answer.usage };
  const cost = costUsd(s.model, u);
  if (cost !== undefined) u.costUsd = cost;
  return u;
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

const LOCAL_FILL: FleetFill = { release: () => undefined };
