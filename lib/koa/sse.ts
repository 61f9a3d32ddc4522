import { PassThrough } from 'node:stream';
import type { ParameterizedContext } from 'koa';
import type { LlmStream } from '../core/stream/llm-stream';
import { isClientGone } from '../http/response-disconnect';
import { EVENT_STREAM_HEADERS, sendStreamEvents, sseFrame } from '../http/sse-events';

export { safeError } from '../http/sse-events';

/**
 * Turns this response into a `text/event-stream` and returns the stream to write events to (write errors are
 * swallowed). A client that leaves before the end is normal for a stream: Koa's pipe of the body into the
 * response then fails with `Premature close` (or the socket's `ECONNRESET`/`EPIPE`) and would hand that to the
 * app's error handler as an application error; for this response, those errors are dropped (any other error, or
 * one after the response finished, still goes to `app.on('error')`).
 */
export function openEventStream(ctx: ParameterizedContext): PassThrough {
  const body = new PassThrough();
  body.on('error', () => undefined);
  const onerror = ctx.onerror;
  ctx.onerror = function (this: ParameterizedContext, err: Error | null) {
    if (err && isClientGone(err, ctx.res)) return;
    return onerror.call(this, err as Error);
  };
  ctx.status = 200;
  ctx.set({ ...EVENT_STREAM_HEADERS });
  ctx.req.socket?.setNoDelay(true);
  ctx.body = body;
  return body;
}

/**
 * Answers with `text/event-stream`: `event: delta` `{ text }` per delta (flushed at once), then `event: done`
 * with model, fallback, cached, resumed, usage and attempts, or `event: error` with a safe message.
 * Headers are sent only once the first token is there, so a failure before it is an ordinary 503/400
 * answered by the middleware. A client that goes away stops the upstream request.
 */
export function sendSSE(ctx: ParameterizedContext, stream: LlmStream): Promise<void> {
  return sendStreamEvents(stream, () => {
    const body = openEventStream(ctx);
    return {
      write: (event, data) => {
        if (!body.destroyed && !body.writableEnded) body.write(sseFrame(event, data));
      },
      end: () => {
        if (!body.destroyed) body.end();
      },
    };
  });
}
