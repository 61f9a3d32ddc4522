import type { GenerateContentResponse, GoogleGenAI } from '@google/genai';
import type { ProviderCall, ProviderFinishReason, ProviderStreamPart, ProviderUsage } from '../../core/provider/chat-provider';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';
import { geminiUsage, textOf, toolCallOf } from './gemini-answer';
import { geminiFailure } from './gemini-errors';
import { finishReasonOf } from './gemini-finish';
import { geminiParams } from './gemini-request';
import type { ThoughtSignatures } from './gemini-signatures';
import { ToolCallIds } from './gemini-tool-call-ids';

/**
 * A streamed answer (`streamGenerateContent`, server-sent events) as the library's parts: each chunk's text as it
 * comes, each function call whole (Gemini sends a call in one piece), then one `finish` part with the last finish
 * reason and usage the chunks carried. A stream that fails (an error sent inside it, a cut connection) throws, and
 * so does one that ends without a finish reason: never a clean end of a partial answer.
 */
export async function* geminiStream(client: GoogleGenAI, call: ProviderCall, signatures?: ThoughtSignatures): AsyncGenerator<ProviderStreamPart> {
  const params = geminiParams(call, signatures);
  let chunks: AsyncGenerator<GenerateContentResponse>;
  try {
    chunks = await client.models.generateContentStream(params);
  } catch (err) {
    throw geminiFailure(err);
  }
  const ids = new ToolCallIds();
  let finish: unknown;
  let blocked = false;
  let toolCalls = 0;
  let usage: ProviderUsage | undefined;
  let providerModel: string | undefined;
  try {
    for await (const chunk of chunks) {
      if (typeof chunk.modelVersion === 'string' && chunk.modelVersion !== '') providerModel = chunk.modelVersion;
      usage = geminiUsage(chunk.usageMetadata) ?? usage;
      const candidate = chunk.candidates?.[0];
      if (!candidate) {
        if (chunk.promptFeedback?.blockReason) blocked = true;
        continue;
      }
      const parts = candidate.content?.parts ?? [];
      const text = textOf(parts);
      if (text !== '') yield { type: 'text', text };
      for (const p of parts) {
        if (!p.functionCall) continue;
        toolCalls++;
        yield { type: 'tool-call', toolCall: toolCallOf(p, ids, chunk.responseId, signatures) };
      }
      if (candidate.finishReason) finish = candidate.finishReason;
    }
  } catch (err) {
    throw geminiFailure(err);
  }
  if (finish === undefined && !blocked) throw new InvalidAnswerError('the Gemini stream ended without a finish reason');
  const finishReason: ProviderFinishReason = finish === undefined ? 'content_filter' : finishReasonOf(finish, toolCalls > 0);
  const part: ProviderStreamPart = { type: 'finish', finishReason, providerModel: providerModel ?? call.model };
  if (usage) part.usage = usage;
  yield part;
}
