import type { Middleware, ParameterizedContext } from 'koa';
import { ResponseCache } from '../core/cache/response-cache';
import { EventBus } from '../core/events/event-bus';
import { type ResolvedCache, resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import type { CacheOptions } from '../types';
import { layersOf } from './request-layers';
import type { LlmMiddleware } from './types';

/** Mounts an existing cache (used by `llmResilience`). */
export function mountCache(cache: ResponseCache): Middleware {
  const scopeFn = cache.scope;
  return (ctx, next) => {
    const layers = layersOf(ctx);
    layers.cache = cache;
    if (scopeFn) layers.scope = () => scopeFn(ctx as ParameterizedContext);
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
  const cache = new ResponseCache(resolved.cache as ResolvedCache, events);
  return Object.assign(mountCache(cache), {
    status: () => buildStatus(null, null, cache),
    close: async () => {
      cache.clear();
      await cache.store?.close();
    },
    on: events.on.bind(events),
  });
}
