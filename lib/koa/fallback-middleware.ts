import type { Middleware, ParameterizedContext } from 'koa';
import { type CallContext, complete } from '../core/complete';
import { LlmStream } from '../core/stream/llm-stream';
import { streamCompletion } from '../core/stream/stream-completion';
import { EventBus } from '../core/events/event-bus';
import { FallbackChain } from '../core/fallback/fallback-chain';
import { resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import type { CompletionRequest, CompletionResult, LlmResilienceOptions, LlmStatus } from '../types';
import { respondWithError } from './error-response';
import { disconnectSignal } from './disconnect-signal';
import { layersOf, type RequestLayers } from './request-layers';
import { sendSSE } from './sse';
import type { LlmContext, LlmMiddleware } from './types';

/** What every request's `ctx.llm` shares: the chain and its event bus, made once per middleware. */
class Mount {
  constructor(
    readonly chain: FallbackChain,
    readonly events: EventBus,
    readonly status: () => LlmStatus,
    readonly exposeHeaders: boolean,
  ) {}

  complete(ctx: ParameterizedContext, request: CompletionRequest): Promise<CompletionResult> {
    const layers = layersOf(ctx);
    const done = complete(this.chain, layers, this.events, request, callContext(ctx, layers));
    if (!this.exposeHeaders) return done;
    return done.then((r) => {
      ctx.set({
        'x-llm-model': r.model,
        'x-llm-fallback': String(r.fallback),
        'x-llm-cache': r.cached === 'semantic' ? 'semantic' : r.cached ? 'hit' : 'miss',
        'x-llm-attempts': String(r.attempts.length),
      });
      return r;
    });
  }

  stream(ctx: ParameterizedContext, request: CompletionRequest): LlmStream {
    const layers = layersOf(ctx);
    return new LlmStream(streamCompletion(this.chain, layers, this.events, request, callContext(ctx, layers)));
  }
}

function callContext(ctx: ParameterizedContext, layers: RequestLayers): CallContext {
  return { signal: disconnectSignal(ctx), scope: layers.scope?.(), task: layers.task };
}

/**
 * `ctx.llm`: one object per request, kept alive while its calls are in flight, so it holds no more than the
 * request and the shared mount. Each function is made the first time it is read, already bound to the request,
 * so `const { complete } = ctx.llm` works as well as `ctx.llm.complete(...)`.
 */
class RequestLlm implements LlmContext {
  readonly #mount: Mount;
  readonly #ctx: ParameterizedContext;
  #complete: LlmContext['complete'] | undefined;
  #stream: LlmContext['stream'] | undefined;
  #sse: LlmContext['sse'] | undefined;

  constructor(mount: Mount, ctx: ParameterizedContext) {
    this.#mount = mount;
    this.#ctx = ctx;
  }

  get complete(): LlmContext['complete'] {
    return (this.#complete ??= (request) => this.#mount.complete(this.#ctx, request));
  }

  get stream(): LlmContext['stream'] {
    return (this.#stream ??= (request) => this.#mount.stream(this.#ctx, request));
  }

  get sse(): LlmContext['sse'] {
    return (this.#sse ??= (request) => sendSSE(this.#ctx, this.#mount.stream(this.#ctx, request)));
  }

  get status(): LlmContext['status'] {
    return this.#mount.status;
  }
}

/** Mounts an existing chain (used by `llmResilience`). */
export function mountFallback(chain: FallbackChain, events: EventBus, status: () => LlmStatus, exposeHeaders = false): Middleware {
  const mount = new Mount(chain, events, status, exposeHeaders);
  const onError = (ctx: ParameterizedContext, err: unknown): void => {
    if (!respondWithError(ctx, err)) throw err;
  };
  return (ctx, next) => {
    ctx.llm = new RequestLlm(mount, ctx);
    return next().then(undefined, (err: unknown) => onError(ctx, err));
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
  const chain = new FallbackChain(resolved, events);
  const status = (): LlmStatus => buildStatus(chain, null, null);
  return Object.assign(mountFallback(chain, events, status, resolved.exposeHeaders), {
    status,
    close: async () => chain.close(),
    on: events.on.bind(events),
  });
}
