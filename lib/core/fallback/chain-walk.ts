import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import type { AttemptRecord, CompletionResult, LlmEventMap } from '../../types';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import { isOpenBreakerRejection, type ModelBreaker } from '../breaker/model-breaker';
import type { ContextPlan } from '../context/context-plan';
import type { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import type { UpstreamAnswer } from '../provider/answer';
import { AbortLatch, type AbortSource, anyAborted, linkSignals } from '../signals';
import { timerDelay } from '../timer-delay';
import type { Admitted } from './admission';
import { AttemptFailure, type FailureClass, failureClass } from './attempt-failure';
import { CALLER_GONE, walkFailed, type WalkState, withHedged } from './attempt-log';
import { retryDelay } from './retry-rule';
import { fellBack } from './deployment-order';
import type { FallbackChain } from './fallback-chain';
import { settleRace, timerWins } from './hedge-race';
import { Attempt, type AttemptAnswer } from './run-attempt';
import { type Contender, elapsed, type Running, type Settled } from './running-attempt';
import { answerLimit, type AttemptLimit, cutByRequest, type TimeoutPolicy, usesFixedLimit } from './timeout-rule';

export interface ChainSuccess {
  answer: UpstreamAnswer;
  json?: unknown;
  model: ResolvedModel;
  /** Position of the answering model in the chain that was walked. */
  index: number;
  /** The answer came from a model other than the chain's first (another deployment of the first model is not one). */
  fallback: boolean;
  attempts: AttemptRecord[];
  hedged: boolean;
  contextTruncation?: CompletionResult['contextTruncation'];
}

/**
 * What a run ends with: the caller's own last step, taken in the same `.then` as the chain's answer (so a request
 * in flight keeps no promise layer per caller). `failed` rethrows, after whatever the caller does with the error.
 */
export interface RunEnd<T> {
  done(s: ChainSuccess): T;
  failed(err: unknown): never;
}

const AS_IS: RunEnd<ChainSuccess> = {
  done: (s) => s,
  failed: (err) => {
    throw err;
  },
};

/** A model the walk may call now, with the messages it gets (see `admit`). */
export type Admission = Extract<Admitted, { ok: true }>;

/**
 * The kind of attempt a walk launches: what differs between `complete()` and a stream. Every decision (admission,
 * the fleet's probe, the timeout rule, hedging, judging, learning, the events) is the walk's; the kind only says
 * how an attempt is started and when it counts as answered.
 */
export interface AttemptMode<V> {
  /**
   * True when an attempt has all of its answer when it settles (`complete()`): its success is recorded then. A
   * stream attempt "answers" when it commits (its first content token); its success is recorded when it ends (see
   * `ChainWalk.streamed`).
   */
  readonly whole: boolean;
  /** A provider's rejection of the request itself is the caller's 400 (false once a stream's answer has started: an interruption). */
  readonly rejectable: boolean;
  /** The latencies whose hedge percentile is how long an attempt may take before the next model is started; null: no hedge now. */
  hedgeOn(): LatencyTracker | null;
  /** Whether `model` may take the request at this point (a started stream: only a model that continues a prefill). */
  eligible(model: ResolvedModel): boolean;
  /** The timeout rule for this kind of attempt (the whole answer, or the first token). */
  limit(policy: TimeoutPolicy, model: ResolvedModel, req: NormalizedRequest, fixed: boolean, leftMs: number): AttemptLimit;
  /**
   * Starts the call (through `breaker` when there is one). Resolves once it has answered; rejects with an
   * `AttemptFailure`. `cancel`, when hedging is on, stops it when another model won.
   */
  start(
    model: ResolvedModel,
    admitted: Admission,
    req: NormalizedRequest,
    signals: readonly (AbortSource | undefined)[],
    cancel: AbortLatch | null,
    limit: AttemptLimit,
    breaker: ModelBreaker | undefined,
  ): Promise<V>;
  /** The attempt answered after `latencyMs` (whole kinds: its call has ended). */
  answered(c: Running<V>, value: V, latencyMs: number): void;
  /** The attempt failed (whole kinds: its call has ended). */
  failed(c: Running<V>): void;
  /** What a walk that found no model ends with, when not `walkFailed` (a stream already started: an interruption). */
  exhausted(attempts: AttemptRecord[]): Error | undefined;
}

/** One request's walk: what every step of it reads, and what it records into. */
export interface WalkContext {
  readonly req: NormalizedRequest;
  readonly breakers: BreakerRegistry | null;
  readonly signals: readonly (AbortSource | undefined)[];
  readonly requestId: string;
  readonly attempts: AttemptRecord[];
  readonly state: WalkState;
  readonly context: ContextPlan | null;
  /** When the request's deadline ends (`performance.now()` time); Infinity without one. */
  readonly deadlineAt: number;
}

/** How a walk ends when a model answered: the attempt, and whether a hedge was started. */
export interface Won<V> {
  winner: Running<V>;
  hedged: boolean;
}

/**
 * The chain's walk, for `complete()` and streams alike: for each model of the request's chain, in order, admission
 * (context fit, cool-down, breaker, bulkhead, budget; see `admit`), then the fleet's probe rule; the attempt, bounded
 * by the timeout rule and what is left of the deadline; a hedge on the next admissible model when the attempt is
 * slower than the hedge percentile of its model's latencies (and the hedge budget allows); the outcome judged and
 * recorded, what it teaches learnt (429 cool-downs, context windows), the `fallback` event; and, when no model
 * answered, `walkFailed`. The chain's state (models, breakers' providers, cool-downs, latencies, spend, calls in
 * flight) is the `FallbackChain`'s; one walk object serves it for the app's lifetime.
 */
export class ChainWalk {
  /** The attempts of `complete()`: a whole answer each. */
  readonly answers: AttemptMode<AttemptAnswer>;

  constructor(readonly chain: FallbackChain) {
    this.answers = new WholeAnswers(chain);
  }

  /**
   * `complete()`'s walk. The common case (no hedging, no fleet, no deadline, and the first model may be called) runs
   * without the async frame of the full walk: its answer ends the request in one promise layer; a failure continues
   * the walk from the next model.
   */
  run<T = ChainSuccess>(
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    requestId: string,
    end: RunEnd<T> = AS_IS as unknown as RunEnd<T>,
    requestDeadlineAt?: number,
  ): Promise<T> {
    const chain = this.chain;
    if (chain.closed) return Promise.reject(closedError()).then(undefined, (err: unknown) => end.failed(err));
    req = chain.withDeploymentOrder(req, false);
    const models = req.chain;
    const deadlineAt = req.deadlineMs === undefined ? Infinity : (requestDeadlineAt ?? performance.now() + req.deadlineMs);
    const context = chain.contextPlan(req);
    chain.hedgeBudget?.deposit();
    chain.rescueBudget?.deposit();
    const kind = this.answers;
    if (!chain.hedge && !chain.fleet && deadlineAt === Infinity && models.length > 0 && !anyAborted(signals) && !this.#mayRescue(models, 0, req, breakers)) {
      const prepared = chain.prepare(models[0], req, breakers, context, undefined);
      if (prepared.ok) {
        // one promise layer, from the attempt's answer to the caller's result: what a request in flight keeps alive
        const c = this.#launch(kind, models[0], 0, prepared, req, breakers, signals, Infinity, false, 0);
        const then = (settled: Settled): T | Promise<T> => {
          const attempts: AttemptRecord[] = [];
          const state: WalkState = { tooLongFor: undefined };
          let answered: boolean;
          try {
            answered = this.#conclude(kind, c, settled, attempts, requestId, state);
          } catch (err) {
            return end.failed(err);
          }
          if (answered) return end.done(success(c, attempts, false));
          const w: WalkContext = { req, breakers, signals, requestId, attempts, state, context, deadlineAt };
          const retryAfter = this.#retryPlan(c, w, 0);
          if (retryAfter !== undefined) return this.#answerOf(end, w, 0, retryAfter);
          chain.emitFallback(requestId, c.model, models[1], attempts[attempts.length - 1]?.outcome ?? 'error');
          return this.#answerOf(end, w, 1);
        };
        return c.raw.then(
          (value) => then(this.#answered(kind, c, value)),
          (error: unknown) => then(this.#failed(kind, c, error)),
        );
      }
    }
    return this.#answerOf(end, { req, breakers, signals, requestId, attempts: [], state: { tooLongFor: undefined }, context, deadlineAt }, 0);
  }

  /** `complete()`'s walk from model `from` on (retried after `retryAfterMs`, when given), ended by the caller's `end`. */
  #answerOf<T>(end: RunEnd<T>, w: WalkContext, from: number, retryAfterMs?: number): Promise<T> {
    const walked = this.walk(this.answers, w, from, retryAfterMs);
    if (end === (AS_IS as unknown)) return walked.then((won) => success(won.winner, w.attempts, won.hedged)) as Promise<T>;
    return walked.then(
      (won) => end.done(success(won.winner, w.attempts, won.hedged)),
      (err: unknown) => end.failed(err),
    );
  }

  /**
   * The chain from model `from` on: skips, hedges, falls through. Resolves with the attempt that answered; rejects
   * with `AllModelsFailedError` at the end (or a `RequestError`, `CONTEXT_LENGTH_EXCEEDED`, when the prompt fits none
   * of the models; or what `kind.exhausted` says), with `RequestAbortedError` when the caller left, and with the
   * caller's 400 when a provider rejected the request itself.
   */
  async walk<V>(kind: AttemptMode<V>, w: WalkContext, from: number, retryAfterMs?: number): Promise<Won<V>> {
    const chain = this.chain;
    const { req, attempts, requestId } = w;
    const models = req.chain;
    let i = from;
    /** Retries of model `i` made so far, and the wait before the next one (undefined: model `i`'s first try). */
    let retries = 0;
    let wait = retryAfterMs;
    while (i < models.length) {
      if (wait !== undefined) {
        await pause(wait, w.signals);
        wait = undefined;
        retries++;
      }
      if (anyAborted(w.signals)) throw new RequestAbortedError('The request was cancelled', { attempts });
      const left = w.deadlineAt - performance.now();
      if (left < 1) break;
      const model = models[i];
      if (!kind.eligible(model)) {
        i++;
        continue;
      }
      const prepared = chain.prepare(model, req, w.breakers, w.context, w.state.tooLongFor);
      if (!prepared.ok) {
        chain.record(attempts, requestId, prepared.skip);
        chain.emitFallback(requestId, model, nextEligible(kind, models, i + 1), prepared.skip.outcome);
        i++;
        retries = 0;
        continue;
      }
      if (chain.fleet && !(await chain.mayProbe(model, w.breakers))) {
        chain.record(attempts, requestId, { model: model.name, outcome: 'circuit_open', latencyMs: 0, message: 'another process is probing' });
        chain.emitFallback(requestId, model, nextEligible(kind, models, i + 1), 'circuit_open');
        i++;
        retries = 0;
        continue;
      }
      const probing = w.breakers?.peek(model.name)?.state === 'half_open';
      const contenders = [this.#contend(kind, this.#launch(kind, model, i, prepared, req, w.breakers, w.signals, left, false, retries))];
      let next = i + 1;

      const budget = chain.hedgeBudget;
      const hedgeAfter = probing && chain.rescue ? undefined : this.#hedgeDelay(kind, model, req.task);
      const rescueAfter = hedgeAfter === undefined && kind.whole ? this.#rescueDelay(model, req.task, probing) : undefined;
      if (rescueAfter !== undefined && next < models.length && (probing || chain.rescueBudget?.canTake())) {
        next = await this.#rescue(kind, contenders, rescueAfter, probing, w, next);
      } else if (hedgeAfter !== undefined && next < models.length && budget && budget.canTake()) {
        if (await timerWins(contenders[0].promise, hedgeAfter)) {
          const [j, prepJ] = this.#nextAdmitted(w, next);
          next = j + 1;
          const leftNow = w.deadlineAt - performance.now();
          if (prepJ?.ok && leftNow >= 1 && budget.tryTake()) {
            chain.events.emit('hedge', { requestId, from: model.name, to: models[j].name, afterMs: Math.round(hedgeAfter) });
            contenders.push(this.#contend(kind, this.#launch(kind, models[j], j, prepJ, req, w.breakers, w.signals, leftNow, true, 0)));
          } else if (prepJ?.ok) {
            next = j; // not hedged after all: it stays next in line
          }
        }
      }

      let winner: Running<V> | null;
      if (contenders.length === 1) {
        // the common case (no hedge): no race to referee
        const c = contenders[0];
        winner = this.#conclude(kind, c, await c.promise, attempts, requestId, w.state) ? c : null;
      } else {
        winner = await settleRace(
          contenders,
          (c) => this.#judge(kind, c, c.settled as Settled<V>, attempts, requestId, w.state),
          (o, latencyMs, why) => chain.record(attempts, requestId, recordOf(o, 'cancelled', latencyMs, why)),
          (o, latencyMs) => this.#superseded(o, latencyMs, w),
        );
      }
      if (winner) return { winner, hedged: contenders.length > 1 && !contenders[0].background }; // a rescue is no hedge
      if (contenders.length === 1) {
        const retryAfter = this.#retryPlan(contenders[0], w, retries);
        if (retryAfter !== undefined) {
          wait = retryAfter;
          continue; // the same model again, after the wait
        }
      }
      const last = attempts[attempts.length - 1];
      chain.emitFallback(requestId, contenders[contenders.length - 1].model, nextEligible(kind, models, next), last?.outcome ?? 'error');
      i = next;
      retries = 0;
    }
    // (a prompt no model can take is the caller's error, not a 503 to retry: see `walkFailed`)
    const tooLate = i < models.length && attempts.length === 0;
    throw (
      kind.exhausted(attempts) ??
      walkFailed(models, attempts, chain.retryAfterS(models, w.breakers), tooLate ? `The deadline of ${req.deadlineMs} ms passed before any model could be tried` : undefined)
    );
  }

  /**
   * An attempt's call has ended: its place in the model's bulkhead and its budget reservation are given back (a
   * whole answer's when it settles; a stream's when its last chunk came or it failed).
   */
  release(model: ResolvedModel, admitted: Admission): void {
    this.chain.trackInFlight(model.name, -1);
    if (admitted.budgetUsd > 0) this.chain.spend.release(admitted.budgetUsd);
  }

  /** A stream that `walk` handed over (committed) ended with its whole answer: a success, with its latency and spend. */
  streamed(c: Running<unknown>, attempts: AttemptRecord[], requestId: string, answer: UpstreamAnswer, firstTokenMs: number): void {
    const latencyMs = elapsed(c.started);
    this.chain.record(attempts, requestId, recordOf(c, 'success', latencyMs));
    this.chain.recordLatency(c.model, c.req, answer.finishReason, latencyMs, firstTokenMs);
    this.chain.recordSpend(c.model, answer.usage);
  }

  /**
   * A stream that `walk` handed over failed after its answer started: recorded and judged as any failed attempt
   * (the provider's rejection of the request is an interruption like any other; `callerGone`: its consumer stopped
   * reading), and learnt from. Throws `RequestAbortedError` when the caller left; returns the failure's class.
   */
  interrupted(c: Running<unknown>, w: WalkContext, error: unknown, callerGone: boolean): FailureClass {
    const f = toFailure(error);
    this.chain.log.failed(w.attempts, w.requestId, c.model, callerGone ? failureClass({ kind: 'caller_gone' }, CALLER_GONE) : f, elapsed(c.started), { error, hedged: c.hedged, rejectable: false });
    this.chain.learnFrom(c.model, f, w.state);
    return f;
  }

  /** A stream that `walk` handed over was stopped because its consumer went away. */
  abandoned(c: Running<unknown>, attempts: AttemptRecord[], requestId: string): void {
    this.chain.record(attempts, requestId, recordOf(c, 'cancelled', elapsed(c.started), CALLER_GONE));
  }

  /** Starts one attempt on `model`, through its breaker, bounded by its timeout and what is left of the deadline. */
  #launch<V>(
    kind: AttemptMode<V>,
    model: ResolvedModel,
    index: number,
    prepared: Admission,
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    leftMs: number,
    hedged: boolean,
    retry: number,
    rescue = false,
  ): Running<V> {
    const chain = this.chain;
    const breaker = breakers?.for(model.name);
    if (retry === 0) chain.retryBudget?.request(model.name);
    const limit = kind.limit(chain, model, req, usesFixedLimit(breaker, index, req), leftMs);
    const cancel = chain.hedge ? new AbortLatch() : null;
    chain.trackInFlight(model.name, 1);
    if (prepared.budgetUsd > 0) chain.spend.reserve(prepared.budgetUsd);
    const started = performance.now();
    const raw = kind.start(model, prepared, req, signals, cancel, limit, breaker);
    const running: Running<V> = { model, index, hedged, started, cancel, req, raw, done: false, settled: null, deadlineBound: limit.deadlineBound, prepared };
    if (retry > 0) running.retry = retry;
    if (rescue) running.rescue = true;
    return running;
  }

  /** An attempt the walk awaits: how it ends, as a `Settled` value. */
  #contend<V>(kind: AttemptMode<V>, running: Running<V>): Contender<V> {
    const c = running as Contender<V>;
    c.promise = c.raw.then(
      (value) => this.#answered(kind, c, value),
      (error: unknown) => this.#failed(kind, c, error),
    );
    return c;
  }

  #answered<V>(kind: AttemptMode<V>, c: Running<V>, value: V): Settled<V> {
    const latencyMs = elapsed(c.started);
    kind.answered(c, value, latencyMs);
    return { ok: true, value, latencyMs };
  }

  #failed<V>(kind: AttemptMode<V>, c: Running<V>, error: unknown): Settled<V> {
    kind.failed(c);
    return { ok: false, failure: toFailure(error), latencyMs: elapsed(c.started), error };
  }

  /** A lone attempt (no hedge) has ended: marks it settled and judges it. True when it answered. */
  #conclude<V>(kind: AttemptMode<V>, c: Running<V>, settled: Settled<V>, attempts: AttemptRecord[], requestId: string, state: WalkState): boolean {
    c.settled = settled;
    c.done = true;
    return this.#judge(kind, c, settled, attempts, requestId, state);
  }

  /**
   * Records how one contender ended. True when it answered; false when the chain falls through. Throws
   * `RequestAbortedError` when the caller left and `RequestError` when the provider rejected the request itself.
   */
  #judge<V>(kind: AttemptMode<V>, c: Running<V>, settled: Settled<V>, attempts: AttemptRecord[], requestId: string, state: WalkState): boolean {
    if (settled.ok) {
      if (kind.whole) this.chain.record(attempts, requestId, recordOf(c, 'success', settled.latencyMs));
      return true;
    }
    this.chain.log.failed(attempts, requestId, c.model, settled.failure, settled.latencyMs, {
      error: settled.error,
      hedged: c.hedged,
      retry: c.retry,
      rescue: c.rescue,
      deadlineBound: c.deadlineBound,
      rejectable: kind.rejectable,
    });
    this.chain.learnFrom(c.model, settled.failure, state);
    return false;
  }

  /**
   * Whether the attempt that just failed alone is retried on the same model, and after how long (see `retryDelay`):
   * only a transient failure or a 429 with a short `retry-after`, on a breaker still closed, within the model's
   * retry budget and what is left of the deadline. Emits the `retry` event when it is.
   */
  #retryPlan(c: Running<unknown>, w: WalkContext, retriesDone: number): number | undefined {
    const chain = this.chain;
    const settled = c.settled;
    if (!chain.retry || !chain.retryBudget || !settled || settled.ok) return undefined;
    const f = settled.failure;
    if (f.transient !== true && f.kind !== 'rate_limited') return undefined;
    const state = w.breakers?.peek(c.model.name)?.state;
    if (state !== undefined && state !== 'closed') return undefined;
    const delayMs = retryDelay(chain.retry, f, retriesDone, w.deadlineAt - performance.now());
    if (delayMs === undefined || !chain.retryBudget.tryTake(c.model.name)) return undefined;
    const event: LlmEventMap['retry'] = { requestId: w.requestId, model: c.model.name, retry: retriesDone + 1, delayMs, reason: f.outcome };
    if (f.status !== undefined) event.status = f.status;
    chain.events.emit('retry', event);
    return delayMs;
  }

  /** Whether model `i` of a walk could be rescued (see `#rescueDelay`): the fast path of `run` is taken only when not. */
  #mayRescue(models: readonly ResolvedModel[], i: number, req: NormalizedRequest, breakers: BreakerRegistry | null): boolean {
    if (!this.chain.rescue || i + 1 >= models.length) return false;
    return this.#rescueDelay(models[i], req.task, breakers?.peek(models[i].name)?.state === 'half_open') !== undefined;
  }

  /**
   * How long an attempt on `model` runs before the next model is started beside it to rescue it (undefined: not
   * rescued): the `rescue.afterPercentile` of the model's latency once it has `minSamples`; a half-open probe
   * without them, at once.
   */
  #rescueDelay(model: ResolvedModel, task: string | undefined, probing: boolean): number | undefined {
    const rescue = this.chain.rescue;
    if (!rescue) return undefined;
    const after = this.chain.latency.window(model.name, task, rescue.minSamples)?.percentile(rescue.afterPercentile);
    if (after === undefined) return probing ? 0 : undefined;
    // a closed breaker's attempt is not rescued before RESCUE_FLOOR_MS: below that, the next model rarely answers
    // sooner, and a pause of the event loop alone would start it
    return probing ? after : Math.max(after, RESCUE_FLOOR_MS);
  }

  /**
   * A rescue: when the attempt (`contenders[0]`) has not answered after `afterMs`, the next admissible model is
   * started beside it. Unlike a hedge, the slow attempt is never cancelled: it runs to its own end, so a probe still
   * decides its breaker and a slow attempt still counts. Rescues of a closed breaker's attempt are bounded by
   * `rescue.maxExtraLoad` (one whose slow attempt then failed is refunded: the next model was needed anyway).
   * Returns the index the walk goes on from.
   */
  async #rescue<V>(kind: AttemptMode<V>, contenders: Contender<V>[], afterMs: number, probing: boolean, w: WalkContext, next: number): Promise<number> {
    const chain = this.chain;
    const { req, requestId } = w;
    const models = req.chain;
    const slow = contenders[0];
    if (!(await timerWins(slow.promise, afterMs))) return next;
    const [j, prepJ] = this.#nextAdmitted(w, next);
    const leftNow = w.deadlineAt - performance.now();
    if (!prepJ?.ok || leftNow < 1) return j + 1;
    if (!probing) {
      const budget = chain.rescueBudget;
      if (!budget?.tryTake()) return j;
      void slow.promise.then((s) => {
        if (!s.ok) budget.refund();
      });
    }
    slow.background = true;
    chain.events.emit('rescue', { requestId, from: slow.model.name, to: models[j].name, afterMs: Math.round(afterMs), probe: probing });
    contenders.push(this.#contend(kind, this.#launch(kind, models[j], j, prepJ, req, w.breakers, w.signals, leftNow, false, 0, true)));
    return j + 1;
  }

  /**
   * The first model from `from` on that may be called now (a hedge's or a rescue's), with its admission; the ones
   * skipped on the way are recorded once, here. `[models.length, undefined]` when there is none.
   */
  #nextAdmitted(w: WalkContext, from: number): [number, Admitted | undefined] {
    const models = w.req.chain;
    let j = from;
    let prepared: Admitted | undefined;
    for (; j < models.length; j++) {
      prepared = this.chain.prepare(models[j], w.req, w.breakers, w.context, w.state.tooLongFor);
      if (prepared.ok) break;
      this.chain.record(w.attempts, w.requestId, prepared.skip);
    }
    return [j, prepared];
  }

  /**
   * A rescued attempt was still running when its rescue answered: recorded as `superseded` for the request; its own
   * outcome, once it has one, is reported by an `attempt` event with `background: true` and learnt from (a 429's
   * cool-down). Its breaker counts it as any attempt.
   */
  #superseded<V>(c: Contender<V>, latencyMs: number, w: WalkContext): void {
    const chain = this.chain;
    chain.record(w.attempts, w.requestId, recordOf(c, 'superseded', latencyMs, 'still running when another model answered: left to end on its own'));
    void c.promise.then((settled) => {
      const record = recordOf(c, settled.ok ? 'success' : settled.failure.outcome, settled.latencyMs, settled.ok ? undefined : settled.failure.message);
      if (!settled.ok) {
        if (settled.failure.status !== undefined) record.status = settled.failure.status;
        if (!settled.failure.callerAborted) chain.learnFrom(c.model, settled.failure, { tooLongFor: undefined });
      }
      if (chain.events.has('attempt')) chain.events.emit('attempt', { ...record, requestId: w.requestId, index: -1, background: true });
    });
  }

  /** How long an attempt on `model` runs before the next model is started beside it (undefined: no hedge). */
  #hedgeDelay<V>(kind: AttemptMode<V>, model: ResolvedModel, task: string | undefined): number | undefined {
    const hedge = this.chain.hedge;
    if (!hedge) return undefined;
    return kind.hedgeOn()?.window(model.name, task, hedge.minSamples)?.percentile(hedge.afterPercentile);
  }
}

/** `complete()`'s attempts: one call that answers whole, checked before it counts (see `Attempt`). */
class WholeAnswers implements AttemptMode<AttemptAnswer> {
  readonly whole = true;
  readonly rejectable = true;

  constructor(readonly chain: FallbackChain) {}

  hedgeOn(): LatencyTracker {
    return this.chain.latency;
  }

  eligible(): boolean {
    return true;
  }

  limit(policy: TimeoutPolicy, model: ResolvedModel, req: NormalizedRequest, fixed: boolean, leftMs: number): AttemptLimit {
    return answerLimit(policy, model, req, fixed, leftMs);
  }

  start(
    model: ResolvedModel,
    admitted: Admission,
    req: NormalizedRequest,
    signals: readonly (AbortSource | undefined)[],
    cancel: AbortLatch | null,
    limit: AttemptLimit,
    breaker: ModelBreaker | undefined,
  ): Promise<AttemptAnswer> {
    const chain = this.chain;
    const attempt = new Attempt(chain.upstream, model, req, admitted.messages, signals, cancel ?? undefined, limit.timeoutMs, chain.deadlines, cutByRequest(chain, req, limit));
    return breaker ? breaker.run(attempt) : attempt.run();
  }

  /** Its latency (see `recordLatency`) and spend are recorded, and its call released. */
  answered(c: Running<AttemptAnswer>, value: AttemptAnswer, latencyMs: number): void {
    const chain = this.chain;
    chain.trackInFlight(c.model.name, -1);
    if (c.prepared.budgetUsd > 0) chain.spend.release(c.prepared.budgetUsd);
    chain.recordLatency(c.model, c.req, value.answer.finishReason, latencyMs);
    chain.recordSpend(c.model, value.answer.usage);
  }

  failed(c: Running<AttemptAnswer>): void {
    this.chain.trackInFlight(c.model.name, -1);
    if (c.prepared.budgetUsd > 0) this.chain.spend.release(c.prepared.budgetUsd);
  }

  exhausted(): undefined {
    return undefined;
  }
}

function success(winner: Running, attempts: AttemptRecord[], hedged: boolean): ChainSuccess {
  const s = winner.settled as Extract<Settled, { ok: true }>;
  const result: ChainSuccess = { answer: s.value.answer, model: winner.model, index: winner.index, fallback: fellBack(winner.req.chain, winner.model), attempts, hedged };
  if (s.value.json !== undefined) result.json = s.value.json;
  if (winner.prepared.droppedIndexes.length > 0) {
    result.contextTruncation = { model: winner.model.name, droppedIndexes: winner.prepared.droppedIndexes, promptTokens: winner.prepared.promptTokens };
  }
  return result;
}

/** The first model from `from` on that may take the request now (the `to` of a `fallback` event). */
function nextEligible<V>(kind: AttemptMode<V>, models: readonly ResolvedModel[], from: number): ResolvedModel | undefined {
  for (let j = from; j < models.length; j++) if (kind.eligible(models[j])) return models[j];
  return undefined;
}

function recordOf(r: Running<unknown>, outcome: AttemptRecord['outcome'], latencyMs: number, message?: string): AttemptRecord {
  const record: AttemptRecord = { model: r.model.name, outcome, latencyMs };
  if (message !== undefined) record.message = message;
  return withHedged(record, r);
}

/** The earliest a closed breaker's slow attempt is rescued (ms), whatever its model's p99. */
const RESCUE_FLOOR_MS = 50;

/** Waits `ms` before a retry; ends early when the caller leaves (the walk then stops). */
function pause(ms: number, signals: readonly (AbortSource | undefined)[]): Promise<void> {
  if (anyAborted(signals)) return Promise.resolve();
  return new Promise((resolve) => {
    const links: (() => void)[] = [];
    const done = (): void => {
      clearTimeout(timer);
      for (const unlink of links) unlink();
      resolve();
    };
    const timer = setTimeout(done, timerDelay(ms));
    links.push(linkSignals({ abort: done }, signals));
  });
}

/** What a request gets from a closed chain (the app is shutting down: a 503, as when no model is available). */
export function closedError(): AllModelsFailedError {
  return new AllModelsFailedError([], 1, 'The LLM engine is closed: no model is called after close()');
}

/** The failure class of whatever an attempt threw. */
export function toFailure(err: unknown): FailureClass {
  if (err instanceof AttemptFailure) return err.failure;
  if (isOpenBreakerRejection(err)) {
    return failureClass({ kind: 'circuit_open' }, 'circuit open');
  }
  return failureClass({ kind: 'provider_error' }, 'unexpected error');
}
