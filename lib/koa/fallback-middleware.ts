import type { Middleware } from 'koa';
import { complete } from '../core/complete';
import { LlmStream } from '../core/stream/llm-stream';
import { streamCompletion } from '../core/stream/stream-completion';
import { EventBus } from '../core/events/event-bus';
import { FallbackChain } from '../core/fallback/fallback-chain';
import { resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import type { CompletionRequest, LlmResilienceOptions, LlmStatus } from '../types';
import { respondWithError } from './error-response';
import type { AbortSource } from '../core/signals';
import { disconnectSignal } from './disconnect-signal';
import { layersOf } from './request-layers';
import { sendSSE } from './sse';
import type { LlmMiddleware } from './types';

/** Mounts an existing chain (used by `llmResilience`). */
export function mountFallback(chain: FallbackChain, events: EventBus, status: () => LlmStatus, exposeHeaders = false): Middleware {
  return (ctx, next) => {
    const layers = layersOf(ctx);
    let signal: AbortSource | undefined;
    const call = () => {
      signal ??= disconnectSignal(ctx);
      return { signal, scope: layers.scope?.(), task: layers.task };
    };
    const stream = (request: CompletionRequest) => new LlmStream(streamCompletion(chain, layers, events, request, call()));
    ctx.llm = {
      complete: exposeHeaders
        ? (request: CompletionRequest) =>
            complete(chain, layers, events, request, call()).then((r) => {
              ctx.set({
                'x-llm-model': r.model,
                'x-llm-fallback': String(r.fallback),
                'x-llm-cache': r.cached === 'semantic' ? 'semantic' : r.cached ? 'hit' : 'miss',
                'x-llm-attempts': String(r.attempts.length),
              });
              return r;
            })
        : (request: CompletionRequest) => complete(chain, layers, events, request, call()),
      stream,
      sse: (request: CompletionRequest) => sendSSE(ctx, stream(request)),
      status,
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
  const chain = new FallbackChain(resolved, events);
  const status = (): LlmStatus => buildStatus(chain, null, null);
  return Object.assign(mountFallback(chain, events, status, resolved.exposeHeaders), {
    status,
    close: async () => chain.close(),
    on: events.on.bind(events),
  });
}
