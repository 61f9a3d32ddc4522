import CircuitBreaker from 'opossum';
import type { BreakerState } from '../../types';
import type { EventBus } from '../events/event-bus';
import type { ResolvedBreaker } from '../options/resolve-options';
import { AttemptFailure } from '../fallback/attempt-failure';

/** How an attempt that started on a closed breaker hands it its outcome, once it has one. */
export interface OutcomeRecorder {
  /** Counts a success; resolves with `value`. */
  succeeded<T>(value: T): T | Promise<T>;
  /** Counts a failure (or not, per the error filter); rejects with `err`. */
  failed(err: unknown): Promise<never>;
}

/**
 * What a breaker runs: a function (fired at its start), or an object whose `run` starts the call and, when given
 * a recorder, reports its own outcome to it.
 */
export type BreakerJob<T> = (() => Promise<T>) | { run(recorder?: OutcomeRecorder): Promise<T> };
type Job = BreakerJob<unknown>;

/** What opossum's rolling window (`breaker.status`) exposes to count an event (untyped in @types/opossum). */
interface OpossumStatus {
  increment(property: 'fires' | 'successes', latencyMs?: number): void;
}

/**
 * One opossum breaker for one model, for the app's lifetime.
 * Our own AbortSignal owns timeouts (opossum's `timeout` is off); this class decides what counts as a failure.
 */
export class ModelBreaker implements OutcomeRecorder {
  readonly name: string;
  readonly #breaker: CircuitBreaker<[Job], unknown>;
  readonly #resetTimeoutMs: number;
  #halfOpenAt: number | null = null;
  /** A half-open probe is in flight: the one slot is taken (see `#probe`). */
  #probing = false;
  /** Failures counted in a row on the closed breaker, with no success between them (see `failed`). */
  #inARow = 0;
  readonly #openAfterInARow: number;

  constructor(name: string, options: ResolvedBreaker, events: EventBus) {
    this.name = name;
    this.#resetTimeoutMs = options.resetTimeoutMs;
    this.#openAfterInARow = options.consecutiveFailures > 0 ? options.consecutiveFailures : Infinity;
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
      this.#inARow = 0;
      events.emit('breaker:close', { model: name });
    });
  }

  /** True when a call may go through now: closed, or half-open with the probe slot still free. */
  canAttempt(): boolean {
    return this.#breaker.closed || (this.#breaker.pendingClose && !this.#probing);
  }

  /**
   * Runs one attempt through the breaker. Rejects with opossum's `EOPENBREAKER` if it lost the probe race.
   *
   * On a closed breaker an attempt object is started at once and reports its outcome when it has ended
   * (`succeeded` / `failed`): opossum counts it then, and keeps nothing alive while the call is in flight (its
   * promises and closures were about a quarter of what each request in flight kept). A failure is fired through
   * opossum; a success is counted straight into its window (see `succeeded`). opossum still
   * makes every decision (the error rate over its window, the thresholds, the cool-down), on calls counted when
   * their outcome is known: calls still in flight no longer dilute the rate. On a half-open breaker the attempt
   * takes the one probe slot at its start and opossum judges it when it ends (see `#probe`). A function is run the
   * same way.
   */
  run<T>(job: BreakerJob<T>): Promise<T> {
    if (!this.#breaker.closed) return this.#probe(job);
    if (typeof job !== 'function') return job.run(this);
    // A function (a streamed attempt) is counted the same way, when it ends: fired through opossum on a closed
    // breaker, what must not count (a 429, a caller's fault, an answer the request made unusable) would be
    // counted as a success by its error filter.
    let started: Promise<T>;
    try {
      started = job();
    } catch (err) {
      started = Promise.reject(err);
    }
    return started.then(
      (value) => this.succeeded(value),
      (err: unknown) => this.failed(err),
    );
  }

  /**
   * A call on a breaker that is not closed: rejected with `EOPENBREAKER` unless it takes the half-open breaker's one
   * probe slot. The probe runs outside opossum while it is in flight; once its outcome is known, opossum judges it
   * (fired with that outcome: a success or a neutral error closes the breaker, a failure re-opens it), unless it
   * proved nothing about the model (cancelled by its caller or by a hedge, or cut short by a time limit the request
   * set itself): then the slot is given back and the breaker stays half-open for the next request to probe.
   */
  #probe<T>(job: BreakerJob<T>): Promise<T> {
    if (this.#probing || !this.#breaker.halfOpen || !this.#breaker.pendingClose) {
      // opossum's own rejection while open (and the same, by hand, while another request holds the probe slot)
      if (!this.#breaker.halfOpen) return this.#breaker.fire(job) as Promise<T>;
      return Promise.reject(Object.assign(new Error('Breaker is open'), { code: 'EOPENBREAKER' }));
    }
    this.#probing = true;
    let started: Promise<T>;
    try {
      started = typeof job === 'function' ? job() : job.run();
    } catch (err) {
      started = Promise.reject(err);
    }
    return started.then(
      (value) => this.#judgeProbe(() => Promise.resolve(value)) as Promise<T>,
      (err: unknown) => (provedNothing(err) ? this.#giveBackProbe(err) : (this.#judgeProbe(() => Promise.reject(err)) as Promise<never>)),
    );
  }

  /** Hands a probe's outcome to opossum, which closes or re-opens the breaker (if it is still half-open). */
  #judgeProbe(outcome: () => Promise<unknown>): Promise<unknown> {
    this.#probing = false;
    if (!this.#breaker.halfOpen || !this.#breaker.pendingClose) return outcome(); // another process decided meanwhile
    return this.#breaker.fire(outcome);
  }

  #giveBackProbe(err: unknown): Promise<never> {
    this.#probing = false;
    return Promise.reject(err);
  }

  /**
   * An attempt started while closed has answered. If the breaker opened or went half-open meanwhile, the answer
   * still counts for the caller but not for the breaker (it would not let a call through now).
   */
  succeeded<T>(value: T): T | Promise<T> {
    // A success on a closed breaker decides nothing: opossum's `fire` would only count it, in its rolling window
    // (its `Status`: one 'fires' and one 'successes', which is all its own listeners on 'fire' and 'success' do
    // on a closed breaker). Counted here directly, it costs no promise chain and no events (about 2 µs of the
    // 12–14 µs the library added per in-memory Koa request). Failures still go through `fire`, where opossum
    // decides whether to open.
    if (!this.#breaker.closed) return value;
    this.#inARow = 0;
    const status = this.#breaker.status as unknown as OpossumStatus;
    status.increment('fires');
    status.increment('successes', 0);
    return value;
  }

  /**
   * An attempt started while closed has failed: counted while the breaker is still closed, as `succeeded`.
   * What must not count (a 429, the caller's fault, a cancellation) is not counted at all: fired through opossum,
   * its error filter would count it as a success, and 429s would then dilute the error rate they must stay out of.
   */
  failed(err: unknown): Promise<never> {
    if (!this.#breaker.closed || this.#isNeutral(err)) return Promise.reject(err);
    const fired = this.#breaker.fire(() => Promise.reject(err)) as Promise<never>;
    if (++this.#inARow < this.#openAfterInARow) return fired;
    // A run of failures opens the breaker whatever the window holds: light traffic never reaches the window's
    // volume, and a window of earlier successes keeps a sudden outage under the error rate for a while.
    return fired.catch((e: unknown) => {
      if (this.#breaker.closed && this.#inARow >= this.#openAfterInARow) this.#breaker.open();
      throw e;
    });
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
   * What must not count as the model's failure: the caller's own faults, 429s (cool-downs handle them),
   * answers the request itself made unusable (a cut it asked for, its schema, its `validate` hook, a content
   * filter its prompt set off: see `INVALID_REASONS`) and cancellations (by the caller, or a hedge that lost). On a
   * closed breaker these are not counted at all (see `failed`). A half-open probe is judged by opossum, whose
   * error filter counts them as successes: a probe that got a 429, a caller's 400 or an answer only this request
   * would not use reached a working provider, so it closes the breaker (a 429 also starts the model's cool-down).
   * A probe that proved nothing (see `provedNothing`) never reaches opossum: its slot is given back.
   */
  #isNeutral(err: unknown): boolean {
    if (!(err instanceof AttemptFailure)) return false;
    if (provedNothing(err)) return true;
    return !err.failure.countsAsFailure;
  }
}

/**
 * An attempt that says nothing about the model, either way: cancelled (its caller left, or a hedge answered
 * first) or cut short by a time limit the request set itself, below the model's usual time.
 */
function provedNothing(err: unknown): boolean {
  return err instanceof AttemptFailure && (err.failure.callerAborted || err.failure.cancelled === true || err.failure.provedNothing === true);
}

export function isOpenBreakerRejection(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'EOPENBREAKER';
}
