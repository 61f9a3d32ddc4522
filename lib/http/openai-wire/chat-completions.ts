import type { StreamStart } from '../../core/complete';
import type { LlmStream } from '../../core/stream/llm-stream';
import type { CompletionRequest, CompletionResult } from '../../types';
import { chatCompletion, completionId, resultChoice, wireUsage } from './chat-completion';
import { parseChatRequest } from './chat-request';
import { sendChatStream, type TextSink } from './chat-stream';
import { wireErrorAnswer, type WireAnswer } from './wire-answer';

/** What answers the gateway's requests: an adapter's `ctx.llm`/`req.llm`, or an engine with the request's call context. */
export interface GatewayClient {
  complete(r: CompletionRequest): Promise<CompletionResult>;
  /** The stream; `started` is told who answers just before its first piece, when the adapter can tell. */
  stream(r: CompletionRequest, started: (start: StreamStart) => void): LlmStream;
  /** The configured model names (`default` is all of them). */
  models: string[];
  /** Each configured model's provider model id (`ModelConfig.model`), by name. */
  providerModels: ReadonlyMap<string, string>;
}

/**
 * `POST /chat/completions`, framework-free: the JSON answer to send (the completion, or an OpenAI error), or null
 * once a stream was opened through `openStream` (which then carries the answer). Errors that are not the
 * library's are thrown for the framework to handle.
 */
export async function answerChatCompletion(client: GatewayClient, body: Record<string, unknown>, aliases: Record<string, string[]> | undefined, openStream: () => TextSink): Promise<WireAnswer | null> {
  const parsed = parseChatRequest(body, client.models, aliases);
  if ('error' in parsed) return parsed.error;
  const meta = { id: completionId(), created: Math.floor(Date.now() / 1000), model: parsed.model, systemFingerprint: null };
  try {
    if (parsed.stream) {
      let answering: string | undefined;
      const stream = client.stream(parsed.request, (start) => {
        answering = client.providerModels.get(start.model) ?? start.model;
      });
      await sendChatStream(stream, meta, parsed.includeUsage, openStream, () => answering);
      return null;
    }
    const r = await client.complete(parsed.request);
    const md = r.providerMetadata;
    const choices = r.choices ?? [{ text: r.text, finishReason: r.finishReason, toolCalls: r.toolCalls, refusal: r.refusal, logprobs: md?.logprobs }];
    const body = chatCompletion({ ...meta, model: r.providerModel, systemFingerprint: typeof md?.system_fingerprint === 'string' ? md.system_fingerprint : null }, choices.map(resultChoice), wireUsage(r.usage));
    if (typeof md?.service_tier === 'string') body.service_tier = md.service_tier;
    if (md?.audio !== undefined) ((body.choices as Record<string, Record<string, unknown>>[])[0].message as Record<string, unknown>).audio = md.audio;
    return { status: 200, headers: {}, body };
  } catch (err) {
    const answer = wireErrorAnswer(err, body);
    if (answer) return answer;
    throw err;
  }
}
