import type { Middleware, ParameterizedContext } from 'koa';
import { ResponseCache } from '../core/cache/response-cache';
import { EventBus } from '../core/events/event-bus';
import { type ResolvedCache, resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import { OPENAI_DEFAULTS } from '../defaults';
import { layersOf } from './request-layers';
import type { CacheOptions, LlmMiddleware } from './types';

/** Puts the cache (and its tenant scope) on this request's layers. */
export function useCache(ctx: ParameterizedContext, cache: ResponseCache): void {
  const layers = layersOf(ctx);
  layers.cache = cache;
  const scopeFn = cache.scope;
  if (scopeFn) layers.scope = () => scopeFn(ctx);
}

/** Mounts an existing cache. */
export function mountCache(cache: ResponseCache): Middleware {
  return (ctx, next) => {
    useCache(ctx, cache);
    return next();
  };
}

/**
 * The in-process LRU cache in front of the chain (with single-flight for identical requests).
 * Mount it before `fallbackMiddleware`. Options: `{ cache: { max, maxBytes, ttlMs, fallbackTtlMs, scope } }`.
 */
export function cacheMiddleware(options: { cache?: CacheOptions } = {}): LlmMiddleware {
  const resolved = resolveOptions({ cache: options.cache ?? {} }, { modelsRequired: false });
  const events = new EventBus();
  const cache = new ResponseCache(resolved.cache as ResolvedCache, events, undefined, undefined, OPENAI_DEFAULTS.embedder);
  return Object.assign(mountCache(cache), {
    status: () => buildStatus(null, null, cache),
    close: async () => {
      await Promise.all([cache.close(), cache.store?.close()]);
    },
    on: events.on.bind(events),
  });
}
