import type { Middleware } from 'koa';
import { LlmEngine } from '../core/engine';
import type { LlmResilienceOptions } from '../types';
import { mountBreakers } from './breaker-middleware';
import { mountCache } from './cache-middleware';
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
  const engine = new LlmEngine(options);
  const status = () => engine.status();
  const layers: Middleware[] = [
    ...(engine.cache ? [mountCache(engine.cache)] : []),
    mountBreakers(engine.breakers),
    mountFallback(engine.chain, engine.events, status, engine.options.exposeHeaders),
  ];
  const middleware: Middleware = (ctx, next) => {
    const run = (i: number): Promise<unknown> => (i === layers.length ? next() : Promise.resolve(layers[i](ctx, () => run(i + 1))));
    return run(0);
  };
  return Object.assign(middleware, {
    engine,
    status,
    close: () => engine.close(),
    on: engine.on.bind(engine) as LlmMiddleware['on'],
  });
}
