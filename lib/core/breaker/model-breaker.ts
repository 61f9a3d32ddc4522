import CircuitBreaker from 'opossum';
import type { BreakerState } from '../../types';
import type { EventBus } from '../events/event-bus';
import type { ResolvedBreaker } from '../options/resolve-options';
import { AttemptFailure } from '../fallback/attempt-failure';

/** What a breaker runs: a function, or an object whose `run` starts the call (an attempt, without a closure). */
export type BreakerJob<T> = (() => Promise<T>) | { run(): Promise<T> };
type Job = BreakerJob<unknown>;

/**
 * One opossum breaker for one model, for the app's lifetime.
 * Our own AbortSignal owns timeouts (opossum's `timeout` is off); this class decides what counts as a failure.
 */
export class ModelBreaker {
  readonly name: string;
  readonly #breaker: CircuitBreaker<[Job], unknown>;
  readonly #resetTimeoutMs: number;
  #halfOpenAt: number | null = null;

  constructor(name: string, options: ResolvedBreaker, events: EventBus) {
    this.name = name;
    this.#resetTimeoutMs = options.resetTimeoutMs;
    this.#breaker = new CircuitBreaker<[Job], unknown>((job: Job) => (typeof job === 'function' ? job() : job.run()), {
      name,
      timeout: false,
      resetTimeout: options.resetTimeoutMs,
      // opossum opens when the rate is strictly above the threshold; the documented contract is "at or above".
      errorThresholdPercentage: options.errorThresholdPercentage - 1e-9,
      volumeThreshold: options.volumeThreshold,
      rollingCountTimeout: options.rollingWindowMs,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: (err: unknown) => this.#isNeutral(err),
    });
    this.#breaker.on('open', () => {
      this.#halfOpenAt = Date.now() + this.#resetTimeoutMs;
      events.emit('breaker:open', { model: name, halfOpenAt: this.#halfOpenAt });
    });
    this.#breaker.on('halfOpen', () => {
      this.#halfOpenAt = null;
      events.emit('breaker:half_open', { model: name });
    });
    this.#breaker.on('close', () => {
      this.#halfOpenAt = null;
      events.emit('breaker:close', { model: name });
    });
  }

  /** True when a call may go through now: closed, or half-open with the probe slot still free. */
  canAttempt(): boolean {
    return this.#breaker.closed || this.#breaker.pendingClose;
  }

  /** Runs one attempt through the breaker. Rejects with opossum's `EOPENBREAKER` if it lost the probe race. */
  run<T>(job: BreakerJob<T>): Promise<T> {
    return this.#breaker.fire(job) as Promise<T>;
  }

  get state(): BreakerState {
    if (this.#breaker.closed) return 'closed';
    return this.#breaker.halfOpen ? 'half_open' : 'open';
  }

  /** Epoch ms when an open breaker lets its probe through; null unless open. */
  get halfOpenAt(): number | null {
    return this.state === 'open' ? this.#halfOpenAt : null;
  }

  stats(): { failures: number; successes: number } {
    const s = this.#breaker.stats;
    return { failures: s.failures, successes: s.successes };
  }

  /** Opens the breaker because another process did (fleet sync); starts the local cool-down. */
  forceOpen(): void {
    if (!this.#breaker.opened) this.#breaker.open();
  }

  /** Closes the breaker because another process's probe succeeded (fleet sync). */
  forceClose(): void {
    if (!this.#breaker.closed) this.#breaker.close();
  }

  shutdown(): void {
    this.#breaker.shutdown();
    this.#breaker.removeAllListeners();
  }

  /**
   * What must not count as the model's failure: the caller's own faults, 429s (cool-downs handle them)
   * and cancellations (by the caller, or a hedge that lost). A cancelled probe proved nothing, so in half-open it
   * counts as a failure (the breaker re-opens) rather than closing the breaker on no evidence.
   */
  #isNeutral(err: unknown): boolean {
    if (!(err instanceof AttemptFailure)) return false;
    if (err.failure.callerAborted || err.failure.cancelled) return !this.#breaker.halfOpen;
    return !err.failure.countsAsFailure;
  }
}

export function isOpenBreakerRejection(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'EOPENBREAKER';
}
