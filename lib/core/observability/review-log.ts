import type { FallbackReviewEntry, RequestSummary } from '../../types';

const ANSWER_CHARS = 2000;

/**
 * The fallback review log: every request answered by a fallback model or with an invalid attempt, in a
 * bounded ring buffer (newest last), also handed to `onFallback` so apps can persist it.
 */
export class ReviewLog {
  readonly #entries: FallbackReviewEntry[] = [];

  constructor(
    private readonly size: number,
    private readonly onFallback?: (entry: FallbackReviewEntry) => void,
  ) {}

  consider(s: RequestSummary): void {
    if (s.cached) return;
    const invalid = s.attempts.some((a) => a.outcome === 'invalid');
    if (!s.fallback && !invalid) return;
    const entry: FallbackReviewEntry = {
      requestId: s.requestId,
      at: new Date().toISOString(),
      ...(s.task !== undefined ? { task: s.task } : {}),
      promptHash: s.promptHash,
      reason: s.fallback ? 'fallback' : 'invalid',
      modelsTried: s.attempts.map((a) => ({ model: a.model, outcome: a.outcome, ...(a.message !== undefined ? { message: a.message } : {}) })),
      answeredBy: s.model,
      answer: s.text === null ? null : s.text.slice(0, ANSWER_CHARS),
    };
    if (this.size > 0) {
      this.#entries.push(entry);
      if (this.#entries.length > this.size) this.#entries.shift();
    }
    try {
      this.onFallback?.(entry);
    } catch {
      // a failing hook never breaks a request
    }
  }

  /** Newest last. */
  entries(): FallbackReviewEntry[] {
    return this.#entries.slice();
  }
}
