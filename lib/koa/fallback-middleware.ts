import type { Middleware, ParameterizedContext } from 'koa';
import { complete } from '../core/complete';
import { EventBus } from '../core/events/event-bus';
import { FallbackChain } from '../core/fallback/fallback-chain';
import { resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import type { CompletionRequest, LlmResilienceOptions, LlmStatus } from '../types';
import { respondWithError } from './error-response';
import { layersOf } from './request-layers';
import type { LlmMiddleware } from './types';

/** Aborts when the HTTP client goes away before the response is finished. Created on first use. */
function disconnectSignal(ctx: ParameterizedContext): AbortSignal {
  const controller = new AbortController();
  const res = ctx.res;
  if (res.destroyed && !res.writableFinished) {
    controller.abort();
  } else {
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
  }
  return controller.signal;
}

/** Mounts an existing chain (used by `llmResilience`). */
export function mountFallback(chain: FallbackChain, events: EventBus, status: () => LlmStatus): Middleware {
  return async (ctx, next) => {
    const layers = layersOf(ctx);
    let signal: AbortSignal | undefined;
    ctx.llm = {
      complete: (request: CompletionRequest) => {
        signal ??= disconnectSignal(ctx);
        return complete(chain, layers, events, request, { signal, scope: layers.scope?.(), task: layers.task });
      },
      status,
    };
    try {
      await next();
    } catch (err) {
      if (!respondWithError(ctx, err)) throw err;
    }
  };
}

/**
 * The fallback chain: attaches `ctx.llm`. Uses the cache and breakers of `cacheMiddleware` /
 * `breakerMiddleware` when they are mounted before it; without them it is a plain chain.
 */
export function fallbackMiddleware(options: Omit<LlmResilienceOptions, 'cache' | 'breaker'>): LlmMiddleware {
  const { cache: _cache, breaker: _breaker, ...chainOptions } = (options ?? {}) as LlmResilienceOptions;
  const resolved = resolveOptions(chainOptions as LlmResilienceOptions);
  const events = new EventBus();
  const chain = new FallbackChain(resolved, events);
  const status = (): LlmStatus => buildStatus(chain, null, null);
  return Object.assign(mountFallback(chain, events, status), {
    status,
    close: async () => chain.close(),
    on: events.on.bind(events),
  });
}
