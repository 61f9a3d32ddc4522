import { PassThrough } from 'node:stream';
import type { ParameterizedContext } from 'koa';
import type { LlmStream } from '../core/stream/llm-stream';
import { EVENT_STREAM_HEADERS, sendStreamEvents, sseFrame } from '../http/sse-events';
import { ignoreClientGone } from './disconnect-signal';

export { safeError } from '../http/sse-events';

/**
 * Turns this response into a `text/event-stream` and returns the stream to write events to (write errors are
 * swallowed). A client that leaves before the end is normal for a stream, not an app error (`ignoreClientGone`).
 */
export function openEventStream(ctx: ParameterizedContext): PassThrough {
  const body = new PassThrough();
  body.on('error', () => undefined);
  ignoreClientGone(ctx);
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
  ignoreClientGone(ctx); // from now: a client leaving before the first token is no app error either
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
