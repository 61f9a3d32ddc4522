import type { NormalizedRequest } from '../request/normalize-request';
import type { ToolCall } from '../../types';
import { loadTokenizer, promptTokens as promptTokensOf, tokenizerInstalled } from '../request/prompt-size';

/** Token counts of one answer. */
export interface AnswerUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** A usable answer from one provider call, whichever provider gave it. */
export interface UpstreamAnswer {
  text: string;
  finishReason: string;
  providerModel: string;
  usage: AnswerUsage;
  /** Tool calls of the answer (checked against the request's tools by the answer check). */
  toolCalls?: ToolCall[];
  /** The model's refusal, when it declined. */
  refusal?: string;
  /** Fields of the provider's answer passed back as they came (OpenAI: `logprobs`, `system_fingerprint`, …). */
  providerMetadata?: Record<string, unknown>;
  /** The other choices of an answer to a request for several (`n > 1`), each judged as the first one is. */
  moreChoices?: AnswerChoice[];
}

/** One more choice of an answer (`n > 1`). */
export interface AnswerChoice {
  text: string;
  finishReason: string;
  toolCalls?: ToolCall[];
  refusal?: string;
  logprobs?: unknown;
}

/** One piece of a streamed answer: text deltas, then the finish reason and usage. */
export interface StreamPiece {
  delta?: string;
  /** One whole tool call, delivered once it is complete. */
  toolCall?: ToolCall;
  /** Refusal text (a part of it). */
  refusal?: string;
  /** Content is arriving that is not handed on yet (a tool call being written): it resets the stream's timers. */
  active?: true;
  finishReason?: string;
  usage?: AnswerUsage;
  providerModel?: string;
}

/** A request's `maxTokens` capped to a model's `maxOutputTokens` (either may be absent). */
export function capTokens(requested: number | undefined, cap: number | undefined): number | undefined {
  if (cap === undefined) return requested;
  return requested === undefined ? cap : Math.min(requested, cap);
}

/** Usage counted with the tokenizer, for providers that do not report it (zero when gpt-tokenizer is not installed). */
export function countedUsage(messages: NormalizedRequest['messages'], text: string): AnswerUsage {
  if (!tokenizerInstalled()) return { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const promptTokens = promptTokensOf(messages);
  const completionTokens = loadTokenizer()(text);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/**
 * A request's `schema` as a structured-output format (OpenAI's `json_schema`, not strict: the library validates the
 * answer itself), as every provider is told of it: a `ChatProvider` in `ProviderCall.responseFormat`, the
 * OpenAI-compatible one in its request body.
 */
export function schemaFormat(schema: Record<string, unknown>): { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict: boolean } } {
  return { type: 'json_schema', json_schema: { name: 'response', schema, strict: false } };
}
