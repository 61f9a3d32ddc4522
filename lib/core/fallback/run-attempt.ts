import type { OutcomeRecorder } from '../breaker/model-breaker';
import type { DeadlineEntry, DeadlineQueue } from '../deadline-queue';
import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { AbortLatch, type AbortSource, anyAborted, unlessAborted } from '../signals';
import { classifyError } from '../upstream/classify-error';
import type { Providers } from '../provider/providers';
import type { UpstreamAnswer } from '../provider/answer';
import { checkAnswer, checkAnswerShape, hookTimedOut } from '../validation/answer-check';
import { AttemptFailure, failureClass } from './attempt-failure';

export interface AttemptAnswer {
  answer: UpstreamAnswer;
  json?: unknown;
}

/**
 * One attempt on one model: one HTTP request, really cancelled (the socket is closed) when it exceeds
 * `timeoutMs`, when a caller signal fires, or when `cancelSignal` fires (a hedge that lost). The answer is
 * checked before it counts as a success. Failures reject with an `AttemptFailure`.
 *
 * One object per attempt, because every request in flight keeps its attempt alive: the attempt is itself the
 * cancellation signal handed to the SDK (an `AbortLatch`), the listener on the caller's signals
 * (`handleEvent`), and its own entry in the chain's deadline queue, instead of a latch, a timer and a linking
 * closure each.
 */
export class Attempt extends AbortLatch implements DeadlineEntry {
  /** Its place in the deadline queue (see `DeadlineQueue`). */
  deadlineSlot = -1;
  deadlineAt = 0;
  #timedOut = false;
  #grace: NodeJS.Immediate | undefined;
  /** The breaker that counts this attempt's outcome when it has one (see `ModelBreaker.run`). */
  #recorder: OutcomeRecorder | undefined;
  /** Whether it listens to the caller's signals (and the hedge's cancel signal), until it ends. */
  #listening = false;
  /** Set while a `validate` hook judges the answer (a timeout then says so). */
  #validating = false;

  constructor(
    readonly upstream: Providers,
    readonly model: ResolvedModel,
    readonly req: NormalizedRequest,
    readonly messages: NormalizedRequest['messages'],
    readonly callerSignals: readonly (AbortSource | undefined)[],
    readonly cancelSignal: AbortSource | undefined,
    readonly timeoutMs: number,
    readonly deadlines: DeadlineQueue,
    /** The request (its own `timeoutMs`, or its deadline) left this attempt less time than the model usually needs. */
    readonly cutByRequest = false,
  ) {
    super();
  }

  /** Starts the call. Resolves with a checked answer; rejects with an `AttemptFailure`. Reports both to `recorder`. */
  run(recorder?: OutcomeRecorder): Promise<AttemptAnswer> {
    this.#recorder = recorder;
    this.deadlines.add(this, this.timeoutMs);
    this.#listening = true;
    for (const s of this.callerSignals) this.#listen(s);
    this.#listen(this.cancelSignal);
    let call: Promise<unknown>;
    try {
      call = this.upstream.create(this.model, this.req, this.messages, this.signal);
    } catch (err) {
      call = Promise.reject(err);
    }
    // One `.then` from the SDK's promise to the checked answer (a promise chain rather than an async method: this
    // runs for every attempt, and an async frame costs more).
    return call.then(
      (completion) => this.#accept(completion),
      (err: unknown) => this.#fail(err),
    );
  }

  /** A caller signal (or the hedge's cancel signal) fired. */
  handleEvent(): void {
    this.abort();
  }

  // The timer phase runs before I/O in each turn of the event loop: after a stall of this process (a long GC
  // pause, a busy loop), every overdue timer would fire before the answers already waiting in the sockets are
  // read. So the abort waits for that turn's I/O (setImmediate runs after it): a late timer no longer cancels
  // an answer that arrived in time, and an answer still missing is cancelled at most one loop turn later.
  onDeadline(): void {
    this.#grace = setImmediate(Attempt.#onGrace, this);
  }

  static #onGrace(a: Attempt): void {
    a.#timedOut = true;
    a.abort();
  }

  #listen(s: AbortSource | undefined): void {
    if (!s) return;
    if (s.aborted) this.abort();
    else s.addEventListener('abort', this, { once: true });
  }

  /** Stops the timer and the listening (removing a listener a source does not hold is a no-op, for both kinds). */
  #release(): void {
    this.deadlines.remove(this);
    if (this.#grace) clearImmediate(this.#grace);
    if (!this.#listening) return;
    this.#listening = false;
    for (const s of this.callerSignals) s?.removeEventListener('abort', this);
    this.cancelSignal?.removeEventListener('abort', this);
  }

  #accept(completion: unknown): AttemptAnswer | Promise<AttemptAnswer> {
    let answer: UpstreamAnswer;
    try {
      answer = this.upstream.answerOf(completion, this.model, this.messages);
    } catch (err) {
      return this.#fail(err);
    }
    const req = this.req;
    // only a user `validate` hook needs an extra turn of the event loop; the attempt's timeout and cancellation
    // still bound it (a hook that never settles is a timed-out attempt, not a request that hangs)
    if (req.validate) {
      this.#validating = true;
      return unlessAborted(checkAnswer(answer, this.model, req), this).then(
        ({ json }) => this.#succeed({ answer, json }),
        (err: unknown) => this.#fail(err),
      );
    }
    let json: unknown;
    try {
      json = checkAnswerShape(answer, this.model, req).json;
    } catch (err) {
      return this.#fail(err);
    }
    return this.#succeed({ answer, json });
  }

  #succeed(done: AttemptAnswer): AttemptAnswer | Promise<AttemptAnswer> {
    this.#release();
    return this.#recorder ? this.#recorder.succeeded(done) : done;
  }

  #fail(err: unknown): Promise<never> {
    const timedOut = this.#timedOut;
    const callerAborted = !timedOut && anyAborted(this.callerSignals);
    const cancelled = !timedOut && !callerAborted && this.cancelSignal?.aborted === true;
    this.#release();
    let why =
      timedOut && this.#validating
        ? hookTimedOut(`validate() did not settle within ${this.timeoutMs} ms`)
        : classifyError(this.upstream.failureOf(this.model, err), { timedOut, callerAborted, cancelled, timeoutMs: this.timeoutMs });
    // a time limit the request set is no evidence that the model is slow (nor, for a probe, that it is back)
    if (timedOut && this.cutByRequest && why.countsAsFailure) why = failureClass({ kind: 'timeout_by_request' }, why.message);
    const failure = new AttemptFailure(why, { cause: err });
    return this.#recorder ? this.#recorder.failed(failure) : Promise.reject(failure);
  }
}
