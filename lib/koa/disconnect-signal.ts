import type { ParameterizedContext } from 'koa';

/**
 * Aborts when the HTTP client goes away before the response is finished: the response's 'close' without
 * `writableFinished` (stable across Node versions, unlike the request's 'close').
 */
export function disconnectSignal(ctx: ParameterizedContext): AbortSignal {
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
