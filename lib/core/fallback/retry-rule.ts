import type { ResolvedRetry } from '../options/resolve-options';
import type { FailureClass } from './attempt-failure';

/** The least time an attempt needs after its retry's wait for the retry to be worth making (ms). */
export const MIN_RETRY_ATTEMPT_MS = 50;

const BUCKETS = 10;

/** One model's requests and retries over a sliding window, in `BUCKETS` slices. */
class Window {
  readonly slots = new Float64Array(BUCKETS).fill(-1);
  readonly requests = new Uint32Array(BUCKETS);
  readonly retries = new Uint32Array(BUCKETS);

  add(slot: number, what: 'requests' | 'retries'): void {
    const i = slot % BUCKETS;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    this[what][i]++;
  }

  sums(slot: number): { requests: number; retries: number } {
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (this.slots[i] > slot - BUCKETS) {
        requests += this.requests[i];
        retries += this.retries[i];
      }
    }
    return { requests, retries };
  }
}

/**
 * The retry budget, per model (as gRPC's retry throttling and Finagle's `RetryBudget`): within a sliding window,
 * a model's retries stay under `budgetMinRetries` plus `budgetRatio` of its first attempts. In an outage every
 * request fails, so without a budget each would bring its retries along; with one, retries add at most that
 * fraction to the model's load, however many requests come.
 */
export class RetryBudget {
  readonly #windows = new Map<string, Window>();
  readonly #sliceMs: number;

  constructor(readonly options: ResolvedRetry) {
    this.#sliceMs = options.budgetWindowMs / BUCKETS;
  }

  /** A first attempt on `model` (not a retry) was started. */
  request(model: string, now = performance.now()): void {
    this.#window(model).add(Math.floor(now / this.#sliceMs), 'requests');
  }

  /** Takes one retry of `model` from the budget; false when the window has none left. */
  tryTake(model: string, now = performance.now()): boolean {
    const w = this.#window(model);
    const slot = Math.floor(now / this.#sliceMs);
    const { requests, retries } = w.sums(slot);
    if (retries >= this.options.budgetMinRetries + this.options.budgetRatio * requests) return false;
    w.add(slot, 'retries');
    return true;
  }

  #window(model: string): Window {
    let w = this.#windows.get(model);
    if (!w) {
      w = new Window();
      this.#windows.set(model, w);
    }
    return w;
  }
}

/**
 * How long to wait before retrying the same model after `failure`, when it is worth retrying at all (undefined:
 * the chain moves on). `retriesDone`: retries of this model already made for this request; `leftMs`: what is left
 * of the request's deadline (Infinity without one).
 *
 * - A transient failure (a 5xx, a connection refused, reset or cut before the answer): jittered exponential
 *   backoff, a random delay in [½, 1] × `baseDelayMs` × 2^retriesDone, at most `maxDelayMs`.
 * - A 429 with a `retry-after` (or reset time) of at most `maxRetryAfterMs`: that wait, plus up to 10% (at least
 *   5 ms) so the retry lands after the model's cool-down. A 429 without one falls over (its cool-down is a guess).
 * - Nothing else: a timeout (retrying a slow provider only adds to its load), an invalid answer, the caller's
 *   fault, a refused key.
 * - Only when the wait leaves the attempt at least `MIN_RETRY_ATTEMPT_MS` of the deadline.
 */
export function retryDelay(options: ResolvedRetry, failure: FailureClass, retriesDone: number, leftMs: number, random: () => number = Math.random): number | undefined {
  if (retriesDone >= options.maxRetries) return undefined;
  let delay: number;
  if (failure.kind === 'rate_limited') {
    const after = failure.retryAfterMs;
    if (after === undefined || after > options.maxRetryAfterMs) return undefined;
    delay = after + Math.max(5, after * 0.1 * random());
  } else if (failure.transient === true) {
    const full = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retriesDone);
    delay = full / 2 + (full / 2) * random();
  } else {
    return undefined;
  }
  return leftMs - delay >= MIN_RETRY_ATTEMPT_MS ? Math.round(delay) : undefined;
}
