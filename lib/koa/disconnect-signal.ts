import type { ParameterizedContext } from 'koa';
import { AbortLatch, type AbortSource } from '../core/signals';

/**
 * Fires when the HTTP client goes away before the response is finished: the response's 'close' without
 * `writableFinished` (stable across Node versions, unlike the request's 'close'). A latch, not an
 * `AbortController`: one is made for every request, and on Node 20 a controller costs more than the latch's
 * whole job.
 */
export function disconnectSignal(ctx: ParameterizedContext): AbortSource {
  const latch = new AbortLatch();
  const res = ctx.res;
  if (res.destroyed && !res.writableFinished) {
    latch.abort();
  } else {
    res.once('close', () => {
      if (!res.writableFinished) latch.abort();
    });
  }
  return latch;
}
