import type { CompletionRequest, CompletionResult } from '../types';
import type { BreakerRegistry } from './breaker/breaker-registry';
import { CacheLayer, type FlightEnd, usageWithCost } from './cache/cache-layer';
import type { ResponseCache } from './cache/response-cache';
import type { EventBus } from './events/event-bus';
import type { ChainSuccess, FallbackChain, RunEnd } from './fallback/fallback-chain';
import { type NormalizedRequest, normalizeRequest } from './request/normalize-request';
import { AbortLatch, type AbortSource, linkSignals } from './signals';
import { costUsd } from './cost/spend-tracker';
import { errorOutline, summarize } from './observability/request-summary';
import { type TenantLimits, type TenantTicket, tenantKeyOf } from './limits/tenant-limits';

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
  /** The request's tenant for `tenantLimits` (undefined or '': no tenant limit). */
  tenant?: string;
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
  /** True for a cache replay (`'semantic'`: a near-match's), or one of another process's answer. */
  cached: boolean | 'semantic';
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
  const limits = chain.tenantLimits;
  if (limits && call.tenant !== undefined) return limited(limits, chain, layers, req, call, end);
  return completeNormalized(chain, layers, req, call, end);
}

/** A tenant's request: admitted by its limits (or refused) before the cache and the chain, settled when it ends. */
async function limited(limits: TenantLimits, chain: FallbackChain, layers: Layers, req: NormalizedRequest, call: CallContext, end: RequestEnd): Promise<CompletionResult> {
  let ticket: TenantTicket | null;
  try {
    const tenant = tenantKeyOf(call.tenant);
    ticket = tenant === undefined ? null : await limits.admit(tenant, req, end.requestId);
  } catch (err) {
    return end.failed(err);
  }
  if (!ticket) return completeNormalized(chain, layers, req, call, end);
  const t = ticket;
  return completeNormalized(chain, layers, req, call, end).then(
    (r) => {
      limits.settle(t, r.cached || r.coalesced ? { upstream: false } : { upstream: true, usage: r.usage });
      return r;
    },
    (err: unknown) => {
      limits.settle(t, { upstream: false });
      throw err;
    },
  );
}

function completeNormalized(chain: FallbackChain, layers: Layers, req: NormalizedRequest, call: CallContext, end: RequestEnd): Promise<CompletionResult> {
  const cache = req.useCache ? layers.cache : null;
  // Without a cache: straight to the chain, which ends the request in the same step as its own answer.
  if (!cache) return chain.run(req, layers.breakers, [req.signal, call.signal], end.requestId, end);
  // (a deadline counts from the request's start: the cache's steps, a shared store, an embedding, a wait for
  // another process's answer, spend from it too)
  const cached = completeCached(chain, layers, cache, req, call, end.requestId, end.started);
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

/**
 * The cache path (see `CacheLayer`): exact and semantic lookups, then one call per key (single-flight, and the
 * shared store's fill lock), whose answer is filled in; a request that would not accept another's answer makes its own.
 */
async function completeCached(
  chain: FallbackChain,
  layers: Layers,
  cache: ResponseCache,
  req: NormalizedRequest,
  call: CallContext,
  requestId: string,
  started: number,
): Promise<CompletionResult> {
  const layer = new CacheLayer(cache, req, call.scope, requestId, started);
  const hit = await layer.lookup(req.signal ?? call.signal);
  if (hit) {
    const { answer, latencyMs } = hit;
    const semantic = hit.kind === 'semantic' ? { cached: 'semantic' as const, similarity: hit.similarity } : { cached: true };
    return { ...answer, usage: { ...answer.usage }, ...semantic, coalesced: false, attempts: [], latencyMs, hedged: false };
  }
  const deadlineAt = layer.deadlineAt;
  const callerSignal = oneSignal(req.signal, call.signal);
  const end = await layer
    .flight(callerSignal.signal, (flightSignal) => chain.run(req, layers.breakers, [flightSignal], requestId, undefined, deadlineAt))
    .finally(callerSignal.release);
  if (await layer.accepts(end)) return resultOf(end, started);
  // An answer this request would not accept from its own call: it makes one of its own (not cached: the entry
  // already there suits the requests that share the key without this hook).
  const own = await chain.run(req, layers.breakers, [req.signal, call.signal], requestId, undefined, deadlineAt);
  return toResult(own, started, false);
}

/** A `complete()`'s result from the flight it was in: its own call's, another request's (a stream's too), another process's. */
function resultOf({ value: v, joined }: FlightEnd, started: number): CompletionResult {
  if ('shared' in v) {
    // another process asked the provider while this one waited: an answer from the shared cache
    return { ...v.shared, usage: { ...v.shared.usage }, cached: true, coalesced: joined, attempts: [], latencyMs: since(started), hedged: false };
  }
  if (!('streamed' in v)) return toResult(v, started, joined);
  // an identical stream made the call: its whole answer (a stream never hedges, nor truncates the context)
  const r = v.streamed;
  const result: CompletionResult = {
    text: r.text,
    model: r.model,
    providerModel: r.providerModel,
    cached: false,
    fallback: r.fallback,
    coalesced: joined,
    attempts: r.attempts,
    usage: r.usage,
    finishReason: r.finishReason,
    latencyMs: since(started),
    hedged: false,
  };
  if (r.json !== undefined) result.json = r.json;
  if (r.toolCalls !== undefined) result.toolCalls = r.toolCalls;
  if (r.refusal !== undefined) result.refusal = r.refusal;
  return result;
}

function toResult(s: ChainSuccess, started: number, coalesced: boolean): CompletionResult {
  const result: CompletionResult = {
    text: s.answer.text,
    model: s.model.name,
    providerModel: s.answer.providerModel,
    cached: false,
    fallback: s.fallback,
    coalesced,
    attempts: coalesced ? s.attempts.map((a) => ({ ...a })) : s.attempts,
    usage: usageWithCost(s),
    finishReason: s.answer.finishReason,
    latencyMs: since(started),
    hedged: s.hedged,
  };
  if (s.json !== undefined) result.json = s.json;
  const a = s.answer;
  if (a.toolCalls !== undefined) result.toolCalls = a.toolCalls;
  if (a.refusal !== undefined) result.refusal = a.refusal;
  if (a.providerMetadata !== undefined) result.providerMetadata = a.providerMetadata;
  if (a.moreChoices !== undefined) {
    const first = { index: 0, text: a.text, finishReason: a.finishReason, ...(a.toolCalls ? { toolCalls: a.toolCalls } : {}), ...(a.refusal !== undefined ? { refusal: a.refusal } : {}), ...(a.providerMetadata?.logprobs !== undefined ? { logprobs: a.providerMetadata.logprobs } : {}) };
    result.choices = [first, ...a.moreChoices.map((c, i) => ({ ...c, index: i + 1 }))];
  }
  if (s.contextTruncation) result.contextTruncation = s.contextTruncation;
  return result;
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

const noop = (): void => undefined;

/** One source that fires when either fires (without AbortSignal.any, which retains signals on Node 20). */
function oneSignal(a: AbortSource | undefined, b: AbortSource | undefined): { signal: AbortSource | undefined; release: () => void } {
  if (!a || !b) return { signal: a ?? b, release: noop };
  const latch = new AbortLatch();
  return { signal: latch, release: linkSignals(latch, [a, b]) };
}
