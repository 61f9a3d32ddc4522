import type { ChatMessage } from '../../types';
import { messageTokens, PRIMING_TOKENS } from '../request/prompt-size';

/** How a prompt is sent to one model: as is, trimmed of old messages, or not at all. */
export type ContextFit =
  | { fits: true; messages: ChatMessage[]; droppedIndexes: number[]; promptTokens: number }
  | { fits: false; promptTokens: number; needed: number };

/**
 * Token accounting of one request's prompt against each model's context window. Tokens are counted once,
 * lazily, and only when a model of the chain declares a `contextWindow`. Images and other non-text parts count
 * by `messageTokens`' estimate (765 tokens an image, 85 at `detail: 'low'`), so a message carrying images may be
 * the one dropped to fit, and its data (a data URL's base64) is never counted as text.
 */
export class ContextPlan {
  #perMessage: number[] | undefined;
  #total = 0;

  constructor(
    private readonly messages: ChatMessage[],
    private readonly maxTokens: number | undefined,
  ) {}

  #count(): number[] {
    if (!this.#perMessage) {
      this.#perMessage = this.messages.map(messageTokens);
      this.#total = PRIMING_TOKENS + this.#perMessage.reduce((a, b) => a + b, 0);
    }
    return this.#perMessage;
  }

  /**
   * Whether prompt + maxTokens fits `window`. With `truncate: 'oldest'`, drops the oldest messages that are
   * neither system/developer prompts nor the last user message until it fits.
   */
  fit(window: number | undefined, outputTokens: number | undefined, truncate: false | 'oldest', scale = 1): ContextFit {
    if (window === undefined) return { fits: true, messages: this.messages, droppedIndexes: [], promptTokens: -1 };
    const per = this.#count();
    const reserve = outputTokens ?? this.maxTokens ?? 0;
    // `scale`: the provider's tokens per counted token (its own tokenizer counts more than o200k_base)
    const scaled = (n: number): number => (scale === 1 ? n : Math.ceil(n * scale));
    if (scaled(this.#total) + reserve <= window) return { fits: true, messages: this.messages, droppedIndexes: [], promptTokens: scaled(this.#total) };
    if (truncate !== 'oldest') return { fits: false, promptTokens: scaled(this.#total), needed: scaled(this.#total) + reserve };
    let lastUser = -1;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (this.messages[i].role === 'user') {
        lastUser = i;
        break;
      }
    }
    let total = this.#total;
    const dropped: number[] = [];
    for (let i = 0; i < this.messages.length && scaled(total) + reserve > window; i++) {
      const role = this.messages[i].role;
      if (role === 'system' || role === 'developer' || i === lastUser) continue;
      dropped.push(i);
      total -= per[i];
      // Tool results without the assistant message that called them are rejected by providers: drop them too.
      while (role === 'assistant' && i + 1 < this.messages.length && this.messages[i + 1].role === 'tool' && i + 1 !== lastUser) {
        i++;
        dropped.push(i);
        total -= per[i];
      }
    }
    if (scaled(total) + reserve > window) return { fits: false, promptTokens: scaled(this.#total), needed: scaled(this.#total) + reserve };
    const gone = new Set(dropped);
    return { fits: true, messages: this.messages.filter((_, i) => !gone.has(i)), droppedIndexes: dropped, promptTokens: scaled(total) };
  }
}
