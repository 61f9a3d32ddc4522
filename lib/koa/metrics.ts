import type { Middleware } from 'koa';
import type { Registry } from 'prom-client';
import { type Observable, promClient, registerMetrics } from '../observability/metrics';

/** Serves the registry at `path` (default `/metrics`) after registering `llm`'s metrics on it. */
export function metricsMiddleware(llm: Observable, options: { registry?: Registry; path?: string } = {}): Middleware {
  const registry = options.registry ?? promClient().register;
  const path = options.path ?? '/metrics';
  registerMetrics(registry, llm);
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.path !== path) return next();
    ctx.set('Content-Type', registry.contentType);
    ctx.body = await registry.metrics();
  };
}
