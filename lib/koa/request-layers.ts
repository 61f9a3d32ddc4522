import type { ParameterizedContext } from 'koa';
import type { BreakerRegistry } from '../core/breaker/breaker-registry';
import type { ResponseCache } from '../core/cache/response-cache';

/** What the outer middlewares leave on a request for `fallbackMiddleware` to use. */
export interface RequestLayers {
  cache: ResponseCache | null;
  scope: (() => string) | null;
  breakers: BreakerRegistry | null;
  /** Default task label set by `llmTask()` for this route. */
  task: string | undefined;
}

const LAYERS = Symbol('koa-llm-resilience.layers');
type WithLayers = { [LAYERS]?: RequestLayers };

export function layersOf(ctx: ParameterizedContext): RequestLayers {
  const c = ctx as unknown as WithLayers;
  let layers = c[LAYERS];
  if (!layers) {
    layers = { cache: null, scope: null, breakers: null, task: undefined };
    c[LAYERS] = layers;
  }
  return layers;
}
