import type { FallbackReviewEntry, RequestSummary } from '../../types';
import type { RequestOutline } from '../events/event-bus';
import { callIsolated } from '../events/user-callback';

const ANSWER_CHARS = 2000;

/**
 * The fallback review log: every request answered by a fallback model or with an invalid attempt, in a
 * bounded ring buffer (newest last), also handed to `onFallback` so apps can persist it.
 */
export class ReviewLog {
  readonly #entries: FallbackReviewEntry[] = [];
  #warned = false;

  constructor(
    private readonly size: number,
    private readonly onFallback?: (entry: FallbackReviewEntry) => void,
  ) {}

  /** Whether a request that ended like this belongs in the log: answered by a fallback, or an attempt was invalid. */
  static wants(s: RequestOutline): boolean {
    if (s.cached) return false;
    if (s.fallback) return true;
    for (const a of s.attempts) if (a.outcome === 'invalid') return true;
    return false;
  }

  consider(s: RequestSummary): void {
    if (!ReviewLog.wants(s)) return;
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
    // a failing hook (or an async one that rejects: apps persist entries) never breaks a request or the process;
    // it is reported once
    if (this.onFallback) {
      callIsolated(this.onFallback, entry, (err) => {
        if (this.#warned) return;
        this.#warned = true;
        process.emitWarning(`koa-llm-resilience: onFallback threw (${err instanceof Error ? err.message : String(err)}); ignored`);
      });
    }
  }

  /** Newest last. */
  entries(): FallbackReviewEntry[] {
    return this.#entries.slice();
  }
}
