import { PassThrough } from 'node:stream';
import type { ParameterizedContext } from 'koa';
import { LlmResilienceError } from '../errors/llm-resilience-error';
import type { LlmStream } from '../core/stream/llm-stream';

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Turns this response into a `text/event-stream` and returns the stream to write events to (write errors are swallowed). */
export function openEventStream(ctx: ParameterizedContext): PassThrough {
  const body = new PassThrough();
  body.on('error', () => undefined);
  ctx.status = 200;
  ctx.set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  ctx.req.socket?.setNoDelay(true);
  ctx.body = body;
  return body;
}

/** The error as a client may see it: our own exposed errors keep their message, anything else is generic. */
export function safeError(err: unknown): { type: string; code: string; message: string } {
  if (err instanceof LlmResilienceError && err.expose) {
    return { type: err.code === 'ALL_MODELS_FAILED' ? 'all_models_failed' : err.code === 'STREAM_INTERRUPTED' ? 'stream_interrupted' : 'invalid_request', code: err.code, message: err.message };
  }
  return { type: 'internal_error', code: 'INTERNAL', message: 'The stream failed' };
}

/**
 * Answers with `text/event-stream`: `event: delta` `{ text }` per delta (flushed at once), then `event: done`
 * with model, fallback, cached, resumed, usage and attempts, or `event: error` with a safe message.
 * Headers are sent only once the first token is there, so a failure before it is an ordinary 503/400
 * answered by the middleware. A client that goes away stops the upstream request.
 */
export async function sendSSE(ctx: ParameterizedContext, stream: LlmStream): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next(); // throws before any byte is sent: the error responder answers
  const body = openEventStream(ctx);
  const write = (event: string, data: unknown): void => {
    if (!body.destroyed && !body.writableEnded) body.write(frame(event, data));
  };
  void (async () => {
    try {
      if (!first.done) write('delta', { text: first.value });
      for (;;) {
        const step = await it.next();
        if (step.done) break;
        write('delta', { text: step.value });
      }
      const r = await stream.result;
      write('done', {
        model: r.model,
        providerModel: r.providerModel,
        fallback: r.fallback,
        cached: r.cached,
        resumed: r.resumed,
        finishReason: r.finishReason,
        usage: r.usage,
        firstTokenMs: r.firstTokenMs,
        latencyMs: r.latencyMs,
        attempts: r.attempts.map((a) => ({ model: a.model, outcome: a.outcome })),
      });
    } catch (err) {
      write('error', safeError(err));
    } finally {
      if (!body.destroyed) body.end();
    }
  })();
}
