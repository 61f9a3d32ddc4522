import type Anthropic from '@anthropic-ai/sdk';
import type { ProviderAnswer, ProviderFinishReason, ProviderToolCall, ProviderUsage } from '../../core/provider/chat-provider';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';

/**
 * Anthropic's `stop_reason` in the library's words. `pause_turn` (a server tool's long turn, paused) and
 * `model_context_window_exceeded` are answers that did not end: `length`. `refusal` is `content_filter`.
 */
const FINISH: Readonly<Record<string, ProviderFinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  pause_turn: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** A stop reason as a finish reason; anything else (none, or one this version does not know) is a malformed answer. */
export function finishReasonOf(stopReason: unknown): ProviderFinishReason {
  const reason = typeof stopReason === 'string' ? FINISH[stopReason] : undefined;
  if (reason === undefined) throw new InvalidAnswerError(stopReason == null ? 'the Anthropic answer has no stop_reason' : 'the Anthropic answer has a stop_reason the provider does not know');
  return reason;
}

/** Counts that are not numbers are 0. */
const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/**
 * Anthropic's usage as the library's. Prompt tokens are all the input the model read: `input_tokens` counts only
 * what came after the last cache breakpoint, so the tokens read from and written to the prompt cache are added.
 */
export function usageOf(u: Partial<Anthropic.Usage> | Partial<Anthropic.MessageDeltaUsage> | null | undefined): ProviderUsage | undefined {
  if (u === null || u === undefined || typeof u.output_tokens !== 'number') return undefined;
  const promptTokens = n(u.input_tokens) + n(u.cache_read_input_tokens) + n(u.cache_creation_input_tokens);
  const completionTokens = n(u.output_tokens);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** The refusal of a `refusal` stop: Anthropic's explanation, else the text the model wrote before it, else `'refusal'`. */
export function refusalOf(details: Anthropic.RefusalStopDetails | null | undefined, text: string): string {
  const explanation = details?.explanation;
  if (typeof explanation === 'string' && explanation !== '') return explanation;
  return text !== '' ? text : 'refusal';
}

/** A `tool_use` block as an OpenAI-shaped tool call (`arguments`: the JSON of its `input`). */
export function toolCallOf(id: string, name: string, args: string): ProviderToolCall {
  return { id, type: 'function', function: { name, arguments: args } };
}

/**
 * A Messages API answer as the library's: text blocks joined, `tool_use` blocks as tool calls, the finish reason,
 * the usage and the model that answered. A refusal's text is withheld (`text: ''`) and carried as `refusal`.
 * Thinking blocks and server tools' blocks are not part of the answer.
 */
export function anthropicAnswer(message: Anthropic.Message): ProviderAnswer {
  if (message === null || typeof message !== 'object' || !Array.isArray(message.content)) throw new InvalidAnswerError('the Anthropic answer has no content');
  const finishReason = finishReasonOf(message.stop_reason);
  let text = '';
  const toolCalls: ProviderToolCall[] = [];
  for (const block of message.content) {
    if (block?.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block?.type === 'tool_use') toolCalls.push(toolCallOf(block.id, block.name, JSON.stringify(block.input ?? {})));
  }
  const answer: ProviderAnswer = { text, finishReason };
  if (finishReason === 'content_filter') {
    answer.refusal = refusalOf(message.stop_details, text);
    answer.text = '';
  }
  if (toolCalls.length > 0) answer.toolCalls = toolCalls;
  const usage = usageOf(message.usage);
  if (usage) answer.usage = usage;
  if (typeof message.model === 'string' && message.model !== '') answer.providerModel = message.model;
  return answer;
}
