import { randomBytes } from 'node:crypto';

/**
 * Ids for the function calls of one answer. Gemini may answer a function call without an id, but an OpenAI-shaped
 * conversation pairs each tool result with its call by id, and must still do so when it goes on with another
 * provider (OpenAI and Anthropic refuse a tool result for an unknown id). An id Gemini gave is kept; otherwise the
 * calls are numbered `call_<answer>_<n>`, where `<answer>` is the answer's `responseId` (so the same answer always
 * gets the same ids) or, without one, a random tag: ids stay unique across the turns of a conversation, not only
 * within one answer, and use only the characters every provider accepts in an id.
 */
export class ToolCallIds {
  #answer: string | undefined;
  #count = 0;

  /** The id of the next call: `given` when Gemini sent one. `responseId` is the answer's (any chunk's, in a stream). */
  next(given: unknown, responseId: unknown): string {
    this.#count++;
    if (typeof given === 'string' && given !== '') return given;
    this.#answer ??= typeof responseId === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(responseId) ? responseId : randomBytes(6).toString('hex');
    return `call_${this.#answer}_${this.#count}`;
  }
}
