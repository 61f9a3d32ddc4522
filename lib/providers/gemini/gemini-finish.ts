import type { ProviderFinishReason } from '../../core/provider/chat-provider';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';

/** Gemini's reasons for withholding (part of) an answer: the answer ends as OpenAI's `content_filter`. */
const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/**
 * A Gemini finish reason in OpenAI's words: `STOP` is `stop` (`tool_calls` when the answer has function calls),
 * `MAX_TOKENS` is `length`, a safety or recitation block is `content_filter`. The others (a malformed or unexpected
 * function call, an unsupported language, `OTHER`, none at all) end an answer that cannot be used: an
 * `InvalidAnswerError` (the attempt fails and the next model is tried).
 */
export function finishReasonOf(reason: unknown, hasToolCalls: boolean): ProviderFinishReason {
  if (reason === 'STOP') return hasToolCalls ? 'tool_calls' : 'stop';
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter';
  if (reason === undefined || reason === null || reason === '') throw new InvalidAnswerError('the Gemini API answered without a finish reason');
  throw new InvalidAnswerError(`the Gemini API ended the answer with ${String(reason).slice(0, 40)}`);
}
