import type { Middleware } from 'koa';
import { LlmEngine } from '../engine';
import type { LlmResilienceOptions } from './types';
import { useBreakers } from './breaker-middleware';
import { useCache } from './cache-middleware';
import { mountFallback } from './fallback-middleware';
import type { LlmMiddleware } from './types';

export type LlmResilienceMiddleware = LlmMiddleware & {
  /** The framework-free engine behind the middleware (for jobs, scripts and tests). */
  readonly engine: LlmEngine;
};

/**
 * `cacheMiddleware → breakerMiddleware → fallbackMiddleware` over one engine, created once for the
 * app's lifetime. Throws `ConfigError` listing every bad option.
 */
export function llmResilience(options: LlmResilienceOptions): LlmResilienceMiddleware {
  // resolved once, by the engine: the three layers below use its cache, breakers and chain (none resolves again)
  const engine = new LlmEngine(options);
  const status = () => engine.status();
  const { cache, breakers } = engine;
  // (a tenant that is the cache's scope is read once a request, as the scope: see `Mount`)
  const tenant = engine.options.tenant === cache?.scope ? undefined : engine.options.tenant;
  const fallback = mountFallback(engine.chain, engine.events, status, engine.options.exposeHeaders, tenant);
  // The three layers in one function (the cache and breaker layers only put their part on the request).
  const middleware: Middleware = (ctx, next) => {
    if (cache) useCache(ctx, cache);
    useBreakers(ctx, breakers);
    return fallback(ctx, next);
  };
  return Object.assign(middleware, {
    engine,
    status,
    close: () => engine.close(),
    on: engine.on.bind(engine) as LlmMiddleware['on'],
  });
}
