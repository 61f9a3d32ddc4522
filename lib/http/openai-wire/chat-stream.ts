import type { LlmStream } from '../../core/stream/llm-stream';
import { safeError } from '../sse-events';
import { completionChunk, type CompletionMeta, dataFrame, DONE_FRAME, usageChunk, wireUsage } from './chat-completion';

/** Where an OpenAI stream goes: `write` raw SSE text, `end` the response (both no-ops once the client is gone). */
export interface TextSink {
  write(text: string): void;
  end(): void;
}

/**
 * OpenAI's SSE: a role chunk, content chunks, a finish chunk, the usage chunk if asked, `data: [DONE]`. Waits for
 * the stream's first delta (a failure before it rejects while no byte is sent: the adapter answers it as JSON),
 * then calls `open` and sends the rest in the background. A failure after that is OpenAI's in-stream
 * `{ error }` with no `[DONE]`, so no client mistakes it for a clean end. Every chunk names the model that
 * answers, as OpenAI's do: from the first chunk on, `answering()` (the provider's model id of the model the chain
 * settled on, known by the first delta); the finish and usage chunks, the id the provider reported with its
 * answer (`providerModel`, as a non-streamed answer's `model`, which may be more precise, e.g. a dated snapshot).
 * A stream with no delta names the reported id throughout; when `answering` cannot tell (a `ctx.llm` that does not
 * report its start), the chunks before the finish carry `meta.model`, the model the client asked for.
 */
export async function sendChatStream(stream: LlmStream, meta: CompletionMeta, includeUsage: boolean, open: () => TextSink, answering: () => string | undefined = () => undefined): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next(); // failures before the first token become ordinary JSON errors
  const out = open();
  const m: CompletionMeta = { ...meta, model: answering() ?? meta.model };
  const send = (data: unknown): void => out.write(dataFrame(data));
  void (async () => {
    try {
      if (first.done) m.model = (await stream.result).providerModel; // an empty answer: its result is already there
      send(completionChunk(m, { role: 'assistant', content: '' }, null));
      if (!first.done) send(completionChunk(m, { content: first.value }, null));
      for (;;) {
        const step = await it.next();
        if (step.done) break;
        send(completionChunk(m, { content: step.value }, null));
      }
      const r = await stream.result;
      m.model = r.providerModel;
      // a refusal and the tool calls, each whole: they were held back until the answer passed its checks
      if (r.refusal !== undefined) send(completionChunk(m, { refusal: r.refusal }, null));
      (r.toolCalls ?? []).forEach((call, index) => send(completionChunk(m, { tool_calls: [{ index, id: call.id, type: 'function', function: call.function }] }, null)));
      send(completionChunk(m, {}, r.finishReason));
      if (includeUsage) send(usageChunk(m, wireUsage(r.usage)));
      out.write(DONE_FRAME);
    } catch (err) {
      const e = safeError(err);
      send({ error: { message: e.message, type: e.type, param: null, code: e.code.toLowerCase() } });
    } finally {
      out.end();
    }
  })();
}
