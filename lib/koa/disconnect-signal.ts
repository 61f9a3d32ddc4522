import type { ParameterizedContext } from 'koa';
import type { AbortSource } from '../core/signals';
import { responseDisconnect } from '../http/response-disconnect';

/** Fires when this request's HTTP client goes away before the response is finished (see `responseDisconnect`). */
export function disconnectSignal(ctx: ParameterizedContext): AbortSource {
  return responseDisconnect(ctx.res);
}
