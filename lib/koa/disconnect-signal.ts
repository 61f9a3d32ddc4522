import type { ParameterizedContext } from 'koa';
import type { AbortSource } from '../core/signals';
import { isClientGone, responseDisconnect } from '../http/response-disconnect';

/** Fires when this request's HTTP client goes away before the response is finished (see `responseDisconnect`). */
export function disconnectSignal(ctx: ParameterizedContext): AbortSource {
  return responseDisconnect(ctx.res);
}

const KOA_ONERROR = Symbol('koa-llm-resilience.onerror');
type WithOnerror = ParameterizedContext & { [KOA_ONERROR]?: ParameterizedContext['onerror'] };

/** One function for every context (no closure per request): Koa calls it as `ctx.onerror(err)`. */
function onerrorUnlessClientGone(this: WithOnerror, err: Error | null): void {
  if (err && isClientGone(err, this.res)) return;
  this[KOA_ONERROR]!.call(this, err as Error);
}

/**
 * For this request, a client that leaves before the response is finished is not an application error. Koa hands
 * the socket's `ECONNRESET` (a client that resets while waiting) and the body pipe's `Premature close` (a client
 * that leaves a stream) to `ctx.onerror`, which emits them on `app.on('error')`, and Koa's default handler prints
 * them. This request's `onerror` drops those (see `isClientGone`); any other error, or one after the response
 * finished, goes on to Koa's as before. Idempotent.
 */
export function ignoreClientGone(ctx: ParameterizedContext): void {
  const c = ctx as WithOnerror;
  if (c.onerror === onerrorUnlessClientGone) return;
  c[KOA_ONERROR] = c.onerror;
  c.onerror = onerrorUnlessClientGone;
}
