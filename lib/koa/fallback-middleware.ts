import type { Middleware, ParameterizedContext } from 'koa';
import { type CallContext, complete } from '../core/complete';
import type { LlmStream } from '../core/stream/llm-stream';
import { llmStream } from '../core/stream/stream-completion';
import { EventBus } from '../core/events/event-bus';
import { FallbackChain } from '../core/fallback/fallback-chain';
import { resolveOptions } from '../core/options/resolve-options';
import { tenantLimitsOf } from '../core/limits/tenant-limits';
import { buildStatus } from '../core/status';
import type { CompletionRequest, CompletionResult, LlmStatus } from '../types';
import { OPENAI_DEFAULTS } from '../defaults';
import { respondWithError } from './error-response';
import { disconnectSignal, ignoreClientGone } from './disconnect-signal';
import { withStreamStartListener } from '../http/stream-start-listener';
import { withResultHeaders, withStreamHeaders } from './llm-headers';
import { layersOf, type RequestLayers } from './request-layers';
import { sendSSE } from './sse';
import type { LlmMiddleware, LlmResilienceOptions } from './types';

/** What every request's `ctx.llm` shares: the chain and its event bus, made once per middleware. */
class Mount {
  constructor(
    readonly chain: FallbackChain,
    readonly events: EventBus,
    readonly status: () => LlmStatus,
    readonly exposeHeaders: boolean,
    /** The request's tenant for the chain's `tenantLimits` (none without them). */
    readonly tenant: ((ctx: ParameterizedContext) => string | undefined) | undefined,
  ) {}

  complete(ctx: ParameterizedContext, request: CompletionRequest): Promise<CompletionResult> {
    const layers = layersOf(ctx);
    const done = complete(this.chain, layers, this.events, request, this.#call(ctx, layers));
    return this.exposeHeaders ? withResultHeaders(ctx, done) : done;
  }

  /** With `exposeHeaders`, the headers say who streams, set at the first piece (if the response has not started). */
  stream(ctx: ParameterizedContext, request: CompletionRequest): LlmStream {
    ignoreClientGone(ctx); // a reader leaving a stream (before or after its first token) is not an app error
    const layers = layersOf(ctx);
    const call = this.#call(ctx, layers);
    return llmStream(this.chain, layers, this.events, request, withStreamStartListener(ctx, this.exposeHeaders ? withStreamHeaders(ctx, call) : call));
  }

  #call(ctx: ParameterizedContext, layers: RequestLayers): CallContext {
    const call = callContext(ctx, layers);
    // (without a `tenant` option, the cache's scope: that of `cacheMiddleware` mounted before this one)
    if (this.chain.tenantLimits) call.tenant = this.tenant ? this.tenant(ctx) : call.scope;
    return call;
  }
}

function callContext(ctx: ParameterizedContext, layers: RequestLayers): CallContext {
  return { signal: disconnectSignal(ctx), scope: layers.scope?.(), task: layers.task };
}

/** Mounts an existing chain (used by `llmResilience`). */
export function mountFallback(
  chain: FallbackChain,
  events: EventBus,
  status: () => LlmStatus,
  exposeHeaders = false,
  tenant?: (ctx: ParameterizedContext) => string | undefined,
): Middleware {
  const mount = new Mount(chain, events, status, exposeHeaders, tenant);
  return (ctx, next) => {
    // A plain object with its functions made at once, each bound to the request (so `const { complete } = ctx.llm`
    // works too). Not a class instance with functions made when first read: that kept ~150 bytes less alive per
    // request, but garbage collection then cost 2.5 times as much per request (24-27 µs against 9-10 µs of GC per
    // sequential in-memory request, measured with a `gc` PerformanceObserver; why, V8 did not say).
    ctx.llm = {
      complete: (request) => mount.complete(ctx, request),
      stream: (request) => mount.stream(ctx, request),
      sse: (request) => sendSSE(ctx, mount.stream(ctx, request)),
      status: mount.status,
    };
    return next().then(undefined, (err: unknown) => {
      if (!respondWithError(ctx, err)) throw err;
    });
  };
}

/**
 * The fallback chain: attaches `ctx.llm`. Uses the cache and breakers of `cacheMiddleware` /
 * `breakerMiddleware` when they are mounted before it; without them it is a plain chain.
 */
export function fallbackMiddleware(options: Omit<LlmResilienceOptions, 'cache' | 'breaker'>): LlmMiddleware {
  const { cache: _cache, breaker: _breaker, ...chainOptions } = (options ?? {}) as LlmResilienceOptions;
  const resolved = resolveOptions(chainOptions);
  const events = new EventBus();
  const chain = new FallbackChain(resolved, events, OPENAI_DEFAULTS.provider);
  chain.tenantLimits = tenantLimitsOf(resolved, events);
  const status = (): LlmStatus => buildStatus(chain, null, null);
  return Object.assign(mountFallback(chain, events, status, resolved.exposeHeaders, resolved.tenant), {
    status,
    close: async () => chain.close(),
    on: events.on.bind(events),
  });
}
