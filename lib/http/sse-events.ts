import { LlmResilienceError } from '../errors/llm-resilience-error';
import type { LlmStream } from '../core/stream/llm-stream';

/** One Server-Sent Event. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The error as a client may see it: our own exposed errors keep their message, anything else is generic. */
export function safeError(err: unknown): { type: string; code: string; message: string } {
  if (err instanceof LlmResilienceError && err.expose) {
    return { type: err.code === 'ALL_MODELS_FAILED' ? 'all_models_failed' : err.code === 'STREAM_INTERRUPTED' ? 'stream_interrupted' : 'invalid_request', code: err.code, message: err.message };
  }
  return { type: 'internal_error', code: 'INTERNAL', message: 'The stream failed' };
}

/** Where the events go: `write` one event, `end` the response (both no-ops once the client is gone). */
export interface EventSink {
  write(event: string, data: unknown): void;
  end(): void;
}

/**
 * Waits for the stream's first delta (so a failure before it rejects while no byte is sent, and the adapter
 * answers it as an ordinary 503/400), then calls `open` and sends, in the background, `delta` `{ text }` per
 * delta, a `tool_call` per tool call (whole, once the answer passed its checks), then `done` with model, fallback, cached, resumed, usage and attempts, or `error` with a safe message.
 */
export async function sendStreamEvents(stream: LlmStream, open: () => EventSink): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next(); // throws before any byte is sent: the error responder answers
  const sink = open();
  void (async () => {
    try {
      if (!first.done) sink.write('delta', { text: first.value });
      for (;;) {
        const step = await it.next();
        if (step.done) break;
        sink.write('delta', { text: step.value });
      }
      const r = await stream.result;
      // each tool call whole, once the answer passed its checks
      for (const toolCall of r.toolCalls ?? []) sink.write('tool_call', toolCall);
      sink.write('done', {
        model: r.model,
        providerModel: r.providerModel,
        fallback: r.fallback,
        cached: r.cached,
        resumed: r.resumed,
        finishReason: r.finishReason,
        ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
        usage: r.usage,
        firstTokenMs: r.firstTokenMs,
        latencyMs: r.latencyMs,
        attempts: r.attempts.map((a) => ({ model: a.model, outcome: a.outcome })),
      });
    } catch (err) {
      sink.write('error', safeError(err));
    } finally {
      sink.end();
    }
  })();
}

/** The headers of an event stream that proxies pass on at once. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
});
