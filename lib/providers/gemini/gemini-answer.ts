import type { GenerateContentResponse, GenerateContentResponseUsageMetadata, Part } from '@google/genai';
import type { ProviderAnswer, ProviderCall, ProviderToolCall, ProviderUsage } from '../../core/provider/chat-provider';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';
import { finishReasonOf } from './gemini-finish';
import type { ThoughtSignatures } from './gemini-signatures';
import { ToolCallIds } from './gemini-tool-call-ids';

/**
 * A `generateContent` response as the library's answer: the first candidate's text parts joined (thought parts,
 * the model's reasoning, left out), its function calls as OpenAI tool calls, its finish reason (see
 * `finishReasonOf`), the usage and the model version. A prompt Gemini blocked (`promptFeedback.blockReason`, no
 * candidate) is an empty answer withheld by the content filter; no candidate for any other reason is unusable.
 */
export function geminiAnswer(res: GenerateContentResponse, call: ProviderCall, signatures?: ThoughtSignatures): ProviderAnswer {
  if (res === null || typeof res !== 'object') throw new InvalidAnswerError('the Gemini API answered something that is not an object');
  const providerModel = typeof res.modelVersion === 'string' && res.modelVersion !== '' ? res.modelVersion : call.model;
  const usage = geminiUsage(res.usageMetadata);
  const candidate = res.candidates?.[0];
  if (!candidate) {
    if (res.promptFeedback?.blockReason) return withUsage({ text: '', finishReason: 'content_filter', providerModel }, usage);
    throw new InvalidAnswerError('the Gemini API answered without a candidate');
  }
  const ids = new ToolCallIds();
  const parts = candidate.content?.parts ?? [];
  const toolCalls = parts.flatMap((p) => (p.functionCall ? [toolCallOf(p, ids, res.responseId, signatures)] : []));
  const answer: ProviderAnswer = { text: textOf(parts), finishReason: finishReasonOf(candidate.finishReason, toolCalls.length > 0), providerModel };
  if (toolCalls.length > 0) answer.toolCalls = toolCalls;
  return withUsage(answer, usage);
}

/** The text of some parts, thoughts left out. */
export function textOf(parts: readonly Part[]): string {
  return parts.map((p) => (typeof p.text === 'string' && p.thought !== true ? p.text : '')).join('');
}

/**
 * A function call part as an OpenAI tool call (`arguments`: the JSON of Gemini's `args` object); its thought
 * signature, if any, is kept in `signatures` under the call's id.
 */
export function toolCallOf(part: Part, ids: ToolCallIds, responseId: unknown, signatures?: ThoughtSignatures): ProviderToolCall {
  const fc = part.functionCall ?? {};
  if (typeof fc.name !== 'string' || fc.name === '') throw new InvalidAnswerError('the Gemini API answered a function call without a name');
  const id = ids.next(fc.id, responseId);
  signatures?.remember(id, part.thoughtSignature);
  return { id, type: 'function', function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) } };
}

/**
 * Gemini's usage in the library's terms: the prompt is `promptTokenCount` (which already counts the tokens of a
 * cached context), the completion is `candidatesTokenCount` plus `thoughtsTokenCount` (reasoning is billed as
 * output). None when Gemini sent no counts (the library then counts them itself).
 */
export function geminiUsage(u: GenerateContentResponseUsageMetadata | undefined): ProviderUsage | undefined {
  if (!u || typeof u.promptTokenCount !== 'number') return undefined;
  const promptTokens = u.promptTokenCount;
  const completionTokens = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

function withUsage(answer: ProviderAnswer, usage: ProviderUsage | undefined): ProviderAnswer {
  if (usage) answer.usage = usage;
  return answer;
}
