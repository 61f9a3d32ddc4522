import type { Middleware, ParameterizedContext } from 'koa';
import { BreakerRegistry } from '../core/breaker/breaker-registry';
import { EventBus } from '../core/events/event-bus';
import { resolveOptions } from '../core/options/resolve-options';
import { buildStatus } from '../core/status';
import type { BreakerOptions } from '../types';
import { layersOf } from './request-layers';
import type { LlmMiddleware } from './types';

/** Puts the breakers on this request's layers. */
export function useBreakers(ctx: ParameterizedContext, breakers: BreakerRegistry): void {
  layersOf(ctx).breakers = breakers;
}

/** Mounts an existing breaker registry. */
export function mountBreakers(breakers: BreakerRegistry): Middleware {
  return (ctx, next) => {
    useBreakers(ctx, breakers);
    return next();
  };
}

/**
 * One opossum circuit breaker per model (created on first use, kept for the app's lifetime).
 * Mount it before `fallbackMiddleware`. Options: `{ breaker: { errorThresholdPercentage, volumeThreshold, rollingWindowMs, resetTimeoutMs } }`.
 */
export function breakerMiddleware(options: { breaker?: BreakerOptions } = {}): LlmMiddleware {
  const resolved = resolveOptions({ breaker: options.breaker }, { modelsRequired: false });
  const events = new EventBus();
  const breakers = new BreakerRegistry(resolved.breaker, events);
  return Object.assign(mountBreakers(breakers), {
    status: () => buildStatus(null, breakers, null),
    close: async () => breakers.close(),
    on: events.on.bind(events),
  });
}
