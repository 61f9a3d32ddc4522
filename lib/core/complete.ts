import type { CompletionRequest, CompletionResult, Usage } from '../types';
import type { BreakerRegistry } from './breaker/breaker-registry';
import { cacheKey, scopeOf } from './cache/cache-key';
import type { CachedAnswer, FleetFill, ResponseCache } from './cache/response-cache';
import type { EventBus } from './events/event-bus';
import type { ChainSuccess, FallbackChain, RunEnd } from './fallback/fallback-chain';
import { type NormalizedRequest, normalizeRequest } from './request/normalize-request';
import { AbortLatch, type AbortSource, linkSignals, unlessAborted } from './signals';
import { costUsd } from './cost/spend-tracker';
import { cutAccepted } from './validation/answer-check';
import { errorOutline, summarize } from './observability/request-summary';
import { timerDelay } from './timer-delay';

export { costUsd };

/** The layers in front of the chain; a missing layer is simply not applied. */
export interface Layers {
  cache: ResponseCache | null;
  breakers: BreakerRegistry | null;
}

/** Per-call context supplied by an adapter (the Koa middleware) or by a direct caller. */
export interface CallContext {
  /** Fires when the caller goes away (e.g. HTTP client disconnect): an `AbortSignal` or anything shaped like one. */
  signal?: AbortSource;
  /** Tenant scope for the cache. Default: ''. */
  scope?: string;
  /** Default task label (e.g. the route's), used when the request has none. */
  task?: string;
  requestId?: string;
  /** Streams: who answers, told just before the first piece is handed out (the Koa adapter sets its headers then). */
  onStreamStart?: (start: StreamStart) => void;
}

/** Who is streaming, at the first piece: the model, whether it is a fallback or a cache replay, attempts so far. */
export interface StreamStart {
  model: string;
  fallback: boolean;
  cached: boolean;
  /** Attempts recorded so far, the streaming one included (0 for a cache replay). */
  attempts: number;
}

let sequence = 0;
const idPrefix = Math.random().toString(36).slice(2, 8);
export function nextRequestId(): string {
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return `${idPrefix}-${sequence}`;
}

/** cache → (single-flight) → chain (→ breaker per model → attempt); emits `request` when it ends. */
export function complete(
  chain: FallbackChain,
  layers: Layers,
  events: EventBus,
  request: CompletionRequest,
  call: CallContext = {},
): Promise<CompletionResult> {
  const end = new RequestEnd(chain, events, request, call, call.requestId ?? nextRequestId());
  let req: NormalizedRequest;
  try {
    req = normalizeRequest(request, chain.models, chain.policy, call.task);
  } catch (err) {
    return Promise.reject(err).then(undefined, (e: unknown) => end.failed(e));
  }
  const cache = req.useCache ? layers.cache : null;
  // Without a cache: straight to the chain, which ends the request in the same step as its own answer.
  if (!cache) return chain.run(req, layers.breakers, [req.signal, call.signal], end.requestId, end);
  // a deadline counts from the request's start: the cache's steps (a shared store, an embedding, a wait for
  // another process's answer) spend from it too
  const deadlineAt = req.deadlineMs === undefined ? Infinity : end.started + req.deadlineMs;
  const cached = completeCached(chain, layers, cache, req, call, end.requestId, end.started, deadlineAt);
  return end.report ? cached.then((r) => end.answered(r), (err: unknown) => end.failed(err)) : cached;
}

/**
 * How a request ends: its result, and the `request` event when a listener wants it (the review log alone wants
 * only fallbacks and invalid answers, so most requests get no summary built). One object a request, handed to
 * the chain so that a request in flight keeps no promise layer or closure of its own here.
 */
class RequestEnd implements RunEnd<CompletionResult> {
  readonly started = performance.now();
  readonly report: boolean;

  constructor(
    readonly chain: FallbackChain,
    readonly events: EventBus,
    readonly request: CompletionRequest,
    readonly call: CallContext,
    readonly requestId: string,
  ) {
    this.report = events.mayWantRequest();
  }

  done(s: ChainSuccess): CompletionResult {
    return this.answered(toResult(s, this.started, false));
  }

  answered(r: CompletionResult): CompletionResult {
    if (this.report && this.events.wantsRequest(r)) this.#emit(r, null);
    return r;
  }

  failed(err: unknown): never {
    if (this.report && this.events.wantsRequest(errorOutline(err))) this.#emit(null, err);
    throw err;
  }

  #emit(r: CompletionResult | null, err: unknown): void {
    this.events.emit('request', summarize('complete', this.requestId, this.request, this.call.task, this.chain, this.started, r, err));
  }
}

/** The cache path: exact and semantic lookups, then one chain run per key (single-flight), then the fill. */
async function completeCached(
  chain: FallbackChain,
  layers: Layers,
  cache: ResponseCache,
  req: NormalizedRequest,
  call: CallContext,
  requestId: string,
  started: number,
  deadlineAt: number,
): Promise<CompletionResult> {
  const scope = scopeOf(call.scope);
  const key = cacheKey(req, scope);
  const storeWait = { spentMs: 0 }; // one shared-store timeout for all of this request's calls
  const hit = cache.store ? await cache.lookup(key, storeWait) : cache.get(key);
  if (hit && (await passesValidate(req, hit))) {
    const latencyMs = since(started);
    cache.events.emit('cache:hit', { requestId, key, latencyMs });
    return { ...hit, usage: { ...hit.usage }, cached: true, coalesced: false, attempts: [], latencyMs, hedged: false };
  }
  cache.events.emit('cache:miss', { requestId, key });

  // Semantic lookup on an exact miss (opt-in, deterministic requests only, within the partition).
  const semantic = cache.semantic;
  const sq = semantic?.query(req, scope, req.semanticOptOut) ?? null;
  const vector = semantic && sq ? await semantic.embed(sq.prompt, req.signal ?? call.signal, deadlineAt - performance.now()) : null;
  if (semantic && sq && vector) {
    const found = semantic.index.search(sq.partition, sq.prompt, vector, semantic.options.threshold);
    if (found) {
      const answer = cache.store ? await cache.lookup(found.entry.answerKey, storeWait) : cache.get(found.entry.answerKey);
      if (answer && (await passesValidate(req, answer))) {
        semantic.hits++;
        const latencyMs = since(started);
        cache.events.emit('cache:hit', { requestId, key: found.entry.answerKey, latencyMs });
        const similarity = Math.round(found.similarity * 10_000) / 10_000;
        return { ...answer, usage: { ...answer.usage }, cached: 'semantic', similarity, coalesced: false, attempts: [], latencyMs, hedged: false };
      }
      if (!answer) semantic.index.remove(found.entry);
    }
  }

  const callerSignal = oneSignal(req.signal, call.signal);
  const { value, joined } = await cache.flights.run(
    flightKey(key, req),
    async (flightSignal): Promise<ChainSuccess | { shared: CachedAnswer }> => {
      // (no shared store: nothing to wait for, so no await either)
      const fleet = cache.store ? await cache.fleetFill(key, flightSignal, deadlineAt - performance.now(), storeWait) : LOCAL_FILL;
      if ('answer' in fleet) return { shared: fleet.answer };
      try {
        const success = await chain.run(req, layers.breakers, [flightSignal], requestId, undefined, deadlineAt);
        if (success.answer.finishReason === 'stop') {
          const answer: CachedAnswer = {
            text: success.answer.text,
            model: success.model.name,
            providerModel: success.answer.providerModel,
            fallback: success.index > 0,
            usage: usage(success),
            finishReason: success.answer.finishReason,
            ...(success.json !== undefined ? { json: success.json } : {}),
          };
          cache.set(key, answer);
          const ttl = cache.ttlFor(answer);
          if (semantic && sq && vector && ttl > 0) semantic.remember(sq, vector, key, ttl);
        }
        return success;
      } finally {
        fleet.release();
      }
    },
    callerSignal.signal,
  ).finally(callerSignal.release);
  const v = value as ChainSuccess | { shared: CachedAnswer };
  if ('shared' in v) {
    // another process asked the provider while this one waited: an answer from the shared cache, which this
    // request's own `validate` hook must pass, as a cache hit must
    if (await passesValidate(req, v.shared)) {
      return { ...v.shared, usage: { ...v.shared.usage }, cached: true, coalesced: joined, attempts: [], latencyMs: since(started), hedged: false };
    }
  } else if (!joined || (await joinerAccepts(req, v))) {
    return toResult(v, started, joined);
  }
  // An answer this request would not accept from its own call: it makes one of its own (not cached: the entry
  // already there suits the requests that share the key without this hook).
  const own = await chain.run(req, layers.breakers, [req.signal, call.signal], requestId, undefined, deadlineAt);
  return toResult(own, started, false);
}

/**
 * Whether a request that joined another's call accepts its answer, as it would from its own: the run judged it
 * with the first caller's `validate` hook and `acceptTruncated`, not necessarily this one's.
 */
async function joinerAccepts(req: NormalizedRequest, s: ChainSuccess): Promise<boolean> {
  if (s.answer.finishReason === 'length' && !cutAccepted(req, s.model)) return false;
  return passesValidate(req, { text: s.answer.text, model: s.model.name, json: s.json });
}

/**
 * Identical requests share one chain run (a flight), and with it its deadline: so only requests with the same
 * `deadlineMs` share one. A request never waits past its own deadline for another's call (one that joins later
 * ends at most as much before its own deadline as it joined later), and nobody fails on a deadline it did not set.
 * (How answers are judged is per request: see `joinerAccepts`.)
 */
function flightKey(key: string, req: NormalizedRequest): string {
  return req.deadlineMs === undefined ? key : `${key}:${req.deadlineMs}`;
}

function toResult(s: ChainSuccess, started: number, coalesced: boolean): CompletionResult {
  const result: CompletionResult = {
    text: s.answer.text,
    model: s.model.name,
    providerModel: s.answer.providerModel,
    cached: false,
    fallback: s.index > 0,
    coalesced,
    attempts: coalesced ? s.attempts.map((a) => ({ ...a })) : s.attempts,
    usage: usage(s),
    finishReason: s.answer.finishReason,
    latencyMs: since(started),
    hedged: s.hedged,
  };
  if (s.json !== undefined) result.json = s.json;
  if (s.contextTruncation) result.contextTruncation = s.contextTruncation;
  return result;
}

/**
 * A cached or shared answer must still pass this request's own `validate` hook (the schema is part of the key).
 * A hook that does not settle within the request's attempt timeout (`timeoutMs`, else the first model's) fails.
 */
export async function passesValidate(req: NormalizedRequest, hit: Pick<CachedAnswer, 'text' | 'model' | 'json'>): Promise<boolean> {
  const hook = req.validate;
  if (!hook) return true;
  const limit = new AbortLatch();
  const timer = setTimeout(() => limit.abort(), timerDelay(req.timeoutMs ?? req.chain[0]?.timeoutMs ?? 2000));
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

function usage(s: ChainSuccess): Usage {
  const u: Usage = { ...s.answer.usage };
  const cost = costUsd(s.model, u);
  if (cost !== undefined) u.costUsd = cost;
  return u;
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

const noop = (): void => undefined;
const LOCAL_FILL: FleetFill = { release: noop };

/** One source that fires when either fires (without AbortSignal.any, which retains signals on Node 20). */
function oneSignal(a: AbortSource | undefined, b: AbortSource | undefined): { signal: AbortSource | undefined; release: () => void } {
  if (!a || !b) return { signal: a ?? b, release: noop };
  const latch = new AbortLatch();
  return { signal: latch, release: linkSignals(latch, [a, b]) };
}
