import type { Middleware } from 'koa';
import { layersOf } from './request-layers';

/**
 * Sets the default task label of a route's `ctx.llm.complete()` calls, for per-task latency statistics and
 * adaptive timeouts: `router.post('/summarize', llmTask('summarize'), handler)`. A request's own `task` wins.
 */
export function llmTask(task: string): Middleware {
  if (typeof task !== 'string' || task.length === 0 || task.length > 100) throw new TypeError('llmTask(task): task must be a non-empty string of at most 100 characters');
  return (ctx, next) => {
    layersOf(ctx).task = task;
    return next();
  };
}
