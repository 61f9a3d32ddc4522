import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import type { AttemptRecord, CompletionResult } from '../../types';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import { isOpenBreakerRejection } from '../breaker/model-breaker';
import { ContextPlan } from '../context/context-plan';
import { contextLengthError } from '../context/context-verdict';
import { DeadlineQueue } from '../deadline-queue';
import type { EventBus } from '../events/event-bus';
import { attemptTimeout } from '../latency/adaptive-timeout';
import { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedAdaptiveTimeout, ResolvedHedge, ResolvedModel, ResolvedOptions } from '../options/resolve-options';
import { type NormalizedRequest, type RequestPolicy, requestValidator } from '../request/normalize-request';
import { loadTokenizer } from '../request/prompt-size';
import { AbortLatch, type AbortSource, anyAborted } from '../signals';
import { CONTEXT_LENGTH_EXCEEDED } from '../upstream/classify-error';
import { capTokens, type UpstreamAnswer } from '../upstream/openai-upstream';
import { Providers } from '../provider/providers';
import { AttemptFailure, type FailureClass, rejectedRequest } from './attempt-failure';
import type { FleetSync } from '../shared/fleet-sync';
import { Cooldowns } from './cooldowns';
import { costUsd, estimateCostUsd, SpendTracker } from '../cost/spend-tracker';
import { promptTokens } from '../request/prompt-size';
import { HedgeBudget } from './hedge-budget';
import { Attempt, type AttemptAnswer } from './run-attempt';
import { timerDelay } from '../timer-delay';

export interface ChainSuccess {
  answer: UpstreamAnswer;
  json?: unknown;
  model: ResolvedModel;
  /** Position of the answering model in the chain that was walked. */
  index: number;
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

/** No message dropped to fit a context window (shared, never written to). */
const NO_DROPS: number[] = [];

const AS_IS: RunEnd<ChainSuccess> = {
  done: (s) => s,
  failed: (err) => {
    throw err;
  },
};

type ChainOptions = Pick<
  ResolvedOptions,
  | 'models'
  | 'rateLimit'
  | 'maxPromptChars'
  | 'maxPromptTokens'
  | 'fetch'
  | 'deadlineMs'
  | 'adaptiveTimeout'
  | 'hedge'
  | 'truncate'
  | 'acceptTruncated'
  | 'midStream'
  | 'latencyWindow'
  | 'budget'
>;

type Prepared =
  /** `budgetUsd`: the call's estimate, reserved against the app's budget while it runs (0 without a budget or price). */
  | { ok: true; messages: NormalizedRequest['messages']; droppedIndexes: number[]; promptTokens: number; budgetUsd: number }
  | { ok: false; skip: AttemptRecord };

type WalkState = { tooLongFor: number | undefined };

type Settled = { ok: true; value: AttemptAnswer; latencyMs: number } | { ok: false; failure: FailureClass; latencyMs: number; error: unknown };

/** One attempt in flight. */
interface Running {
  model: ResolvedModel;
  index: number;
  hedged: boolean;
  started: number;
  /** Only when hedging is on: aborts a contender that lost the race. */
  cancel: AbortLatch | null;
  req: NormalizedRequest;
  /** The attempt's own promise (through the breaker, when there is one). */
  raw: Promise<AttemptAnswer>;
  done: boolean;
  /** How it ended, once it has. */
  settled: Settled | null;
  deadlineBound: boolean;
  prepared: Extract<Prepared, { ok: true }>;
}

/** An attempt the walk awaits: how it ends, as a value. */
interface Contender extends Running {
  promise: Promise<Settled>;
}

/**
 * Walks the chain: skips models in cool-down, with an open breaker, at their concurrency limit or too small
 * for the prompt; bounds each attempt by its (fixed or adaptive) timeout and by the request's deadline;
 * hedges a slow model with the next one when enabled; falls through on failure.
 */
export class FallbackChain {
  readonly models: readonly ResolvedModel[];
  /** Every model's provider (its own `ChatProvider`, or the OpenAI-compatible one). */
  readonly upstream: Providers;
  readonly cooldowns: Cooldowns;
  readonly latency: LatencyTracker;
  /** Streams: time to first token per model and task. */
  readonly firstTokenLatency: LatencyTracker;
  readonly policy: RequestPolicy;
  readonly adaptive: ResolvedAdaptiveTimeout | false;
  readonly #hedge: ResolvedHedge | false;
  readonly #hedgeBudget: HedgeBudget | null;
  readonly #inFlight = new Map<string, number>();
  readonly spend: SpendTracker;
  /** Fleet-wide breaker state, when a shared store is configured: one process probes for all. */
  fleet: FleetSync | null = null;
  readonly #usesContext: boolean;
  /** Every attempt's timeout, on one timer (see `DeadlineQueue`). */
  readonly deadlines = new DeadlineQueue();
  /** Set by `close()`: no model is called any more (attempts already in flight finish or time out). */
  closed = false;

  constructor(
    options: ChainOptions,
    readonly events: EventBus,
  ) {
    this.models = options.models;
    this.policy = {
      maxPromptChars: options.maxPromptChars,
      maxPromptTokens: options.maxPromptTokens,
      deadlineMs: options.deadlineMs,
      truncate: options.truncate,
      acceptTruncated: options.acceptTruncated,
      midStream: options.midStream,
    };
    this.#usesContext = options.models.some((m) => m.contextWindow !== undefined);
    requestValidator(); // compiled at start-up, not by the first request
    if (options.maxPromptTokens !== undefined || this.#usesContext) loadTokenizer();
    this.upstream = new Providers(options.models, options.fetch);
    this.cooldowns = new Cooldowns(options.rateLimit.defaultCooldownMs, options.rateLimit.maxCooldownMs);
    this.spend = new SpendTracker(options.budget);
    if (options.budget) loadTokenizer();
    this.latency = new LatencyTracker(options.latencyWindow);
    this.firstTokenLatency = new LatencyTracker(options.latencyWindow);
    this.adaptive = options.adaptiveTimeout;
    this.#hedge = options.hedge;
    this.#hedgeBudget = options.hedge ? new HedgeBudget(options.hedge.maxExtraLoad) : null;
  }

  run<T = ChainSuccess>(
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    requestId: string,
    end: RunEnd<T> = AS_IS as unknown as RunEnd<T>,
    /** When the request's `deadlineMs` ends (`performance.now()` time), if it started before the chain (the cache's steps). */
    requestDeadlineAt?: number,
  ): Promise<T> {
    if (this.closed) return Promise.reject(closedError()).then(undefined, (err: unknown) => end.failed(err));
    const chain = req.chain;
    const deadlineAt = req.deadlineMs === undefined ? Infinity : (requestDeadlineAt ?? performance.now() + req.deadlineMs);
    const context = this.contextPlan(req);
    this.#hedgeBudget?.deposit();
    // The common case, without the async frame of the full walk: no hedging, no fleet, no deadline, and the first
    // model may be called. Its answer ends the request; a failure continues the walk from the next model.
    if (!this.#hedge && !this.fleet && deadlineAt === Infinity && chain.length > 0 && !anyAborted(signals)) {
      const prepared = this.prepare(chain[0], req, breakers, context, undefined);
      if (prepared.ok) {
        // one promise layer, from the attempt's answer to the caller's result: what a request in flight keeps alive
        const c = this.#launch(chain[0], 0, prepared, req, breakers, signals, Infinity, false);
        const then = (settled: Settled): T | Promise<T> => {
          const attempts: AttemptRecord[] = [];
          const state: WalkState = { tooLongFor: undefined };
          let answered: boolean;
          try {
            answered = this.#conclude(c, settled, attempts, requestId, state);
          } catch (err) {
            return end.failed(err);
          }
          if (answered) return end.done(this.#success(c, attempts, false));
          this.emitFallback(requestId, c.model, chain[1], attempts[attempts.length - 1]?.outcome ?? 'error');
          return this.#walkTo(end, this.#walk(req, breakers, signals, requestId, 1, attempts, state, context, deadlineAt));
        };
        return c.raw.then(
          (value) => then(this.#answered(c, value)),
          (error: unknown) => then(this.#failed(c, error)),
        );
      }
    }
    return this.#walkTo(end, this.#walk(req, breakers, signals, requestId, 0, [], { tooLongFor: undefined }, context, deadlineAt));
  }

  /** The walk's outcome, ended by the caller's `end`. */
  #walkTo<T>(end: RunEnd<T>, walked: Promise<ChainSuccess>): Promise<T> {
    if (end === (AS_IS as unknown)) return walked as Promise<T>;
    return walked.then(
      (s) => end.done(s),
      (err: unknown) => end.failed(err),
    );
  }

  /**
   * The chain from model `from` on: skips, hedges, falls through; rejects at the end with `AllModelsFailedError`, or
   * with a `RequestError` (`CONTEXT_LENGTH_EXCEEDED`) when the prompt fits none of the models.
   */
  async #walk(
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    requestId: string,
    from: number,
    attempts: AttemptRecord[],
    state: WalkState,
    context: ContextPlan | null,
    deadlineAt: number,
  ): Promise<ChainSuccess> {
    const chain = req.chain;
    let i = from;
    while (i < chain.length) {
      if (anyAborted(signals)) throw new RequestAbortedError('The request was cancelled', { attempts });
      const left = deadlineAt - performance.now();
      if (left < 1) break;
      const prepared = this.prepare(chain[i], req, breakers, context, state.tooLongFor);
      if (!prepared.ok) {
        this.record(attempts, requestId, prepared.skip);
        this.emitFallback(requestId, chain[i], chain[i + 1], prepared.skip.outcome);
        i++;
        continue;
      }
      if (this.fleet && !(await this.mayProbe(chain[i], breakers))) {
        this.record(attempts, requestId, { model: chain[i].name, outcome: 'circuit_open', latencyMs: 0, message: 'another process is probing' });
        this.emitFallback(requestId, chain[i], chain[i + 1], 'circuit_open');
        i++;
        continue;
      }
      const contenders = [this.#contend(this.#launch(chain[i], i, prepared, req, breakers, signals, left, false))];
      let next = i + 1;

      const hedgeAfter = this.#hedgeDelay(chain[i], req.task);
      if (hedgeAfter !== undefined && next < chain.length && this.#hedgeBudget && this.#hedgeBudget.canTake()) {
        if (await timerWins(contenders[0].promise, hedgeAfter)) {
          // Find the next model that may be called now; the ones skipped on the way are recorded once, here.
          let j = next;
          let prepJ: Prepared | undefined;
          for (; j < chain.length; j++) {
            prepJ = this.prepare(chain[j], req, breakers, context, state.tooLongFor);
            if (prepJ.ok) break;
            this.record(attempts, requestId, prepJ.skip);
          }
          next = j + 1;
          const leftNow = deadlineAt - performance.now();
          if (prepJ?.ok && leftNow >= 1 && this.#hedgeBudget.tryTake()) {
            this.events.emit('hedge', { requestId, from: chain[i].name, to: chain[j].name, afterMs: Math.round(hedgeAfter) });
            contenders.push(this.#contend(this.#launch(chain[j], j, prepJ, req, breakers, signals, leftNow, true)));
          } else if (prepJ?.ok) {
            next = j; // not hedged after all: it stays next in line
          }
        }
      }

      let winner: Running | null;
      if (contenders.length === 1) {
        // the common case (no hedge): no race to referee
        const c = contenders[0];
        winner = this.#conclude(c, await c.promise, attempts, requestId, state) ? c : null;
      } else {
        winner = await this.#settle(contenders, attempts, requestId, state);
      }
      if (winner) return this.#success(winner, attempts, contenders.length > 1);
      const last = attempts[attempts.length - 1];
      this.emitFallback(requestId, contenders[contenders.length - 1].model, chain[next], last?.outcome ?? 'error');
      i = next;
    }
    // a prompt no model can take is the caller's error, not a 503 to retry
    const tooLong = contextLengthError(chain, attempts);
    if (tooLong) throw tooLong;
    const tooLate = i < chain.length && attempts.length === 0;
    throw new AllModelsFailedError(
      attempts,
      this.retryAfterS(chain, breakers),
      tooLate ? `The deadline of ${req.deadlineMs} ms passed before any model could be tried` : undefined,
    );
  }

  /** A lone attempt (no hedge) has ended: marks it settled and judges it. True when it answered. */
  #conclude(c: Running, settled: Settled, attempts: AttemptRecord[], requestId: string, state: WalkState): boolean {
    c.settled = settled;
    c.done = true;
    return this.#judge(c, settled, attempts, requestId, state);
  }

  #success(winner: Running, attempts: AttemptRecord[], hedged: boolean): ChainSuccess {
    const s = winner.settled as Extract<Settled, { ok: true }>;
    const success: ChainSuccess = { answer: s.value.answer, model: winner.model, index: winner.index, attempts, hedged };
    if (s.value.json !== undefined) success.json = s.value.json;
    if (winner.prepared.droppedIndexes.length > 0) {
      success.contextTruncation = { model: winner.model.name, droppedIndexes: winner.prepared.droppedIndexes, promptTokens: winner.prepared.promptTokens };
    }
    return success;
  }

  /** Seconds until the earliest model of `chain` may be tried again; at least 1. */
  retryAfterS(chain: readonly ResolvedModel[], breakers: BreakerRegistry | null, now = Date.now()): number {
    let earliest = Infinity;
    for (const m of chain) {
      const until = Math.max(this.cooldowns.until(m.name, now) ?? now, breakers?.peek(m.name)?.halfOpenAt ?? now);
      earliest = Math.min(earliest, until);
    }
    return Math.max(1, Math.ceil((earliest - now) / 1000));
  }

  inFlight(model: string): number {
    return this.#inFlight.get(model) ?? 0;
  }

  /** @internal A half-open model is probed by one process of the fleet only (always true without a shared store). */
  async mayProbe(model: ResolvedModel, breakers: BreakerRegistry | null): Promise<boolean> {
    if (!this.fleet || breakers?.peek(model.name)?.state !== 'half_open') return true;
    return this.fleet.tryProbe(model.name, Math.max(model.timeoutMs, model.firstTokenTimeoutMs) * 2);
  }

  /** @internal Adds an answer's tokens and cost to the model's totals and the budget windows. */
  recordSpend(model: ResolvedModel, usage: UpstreamAnswer['usage']): void {
    this.spend.record(model.name, usage.promptTokens, usage.completionTokens, costUsd(model, usage) ?? 0);
  }

  /** @internal Counts a call in flight (bulkhead and status). */
  trackInFlight(model: string, delta: 1 | -1): void {
    this.#inFlight.set(model, this.inFlight(model) + delta);
  }

  /** @internal Token accounting for the request, when a model of the chain has a context window. */
  contextPlan(req: NormalizedRequest): ContextPlan | null {
    return this.#usesContext ? new ContextPlan(req.messages, req.maxTokens) : null;
  }

  /** @internal Applies what a failed attempt teaches: 429 cool-downs, context-window limits. */
  learnFrom(model: ResolvedModel, f: FailureClass, state: WalkState): void {
    if (f.outcome === 'rate_limited') {
      const ms = this.cooldowns.start(model.name, f.retryAfterMs);
      this.events.emit('cooldown', { model: model.name, ms, until: this.cooldowns.until(model.name) ?? Date.now() + ms });
    }
    if (f.message === CONTEXT_LENGTH_EXCEEDED && model.contextWindow !== undefined) {
      state.tooLongFor = Math.max(state.tooLongFor ?? 0, model.contextWindow);
    }
  }

  /** @internal Whether the request set itself a deadline tighter than the app's (a timeout it causes is not the model's failure). */
  deadlineSetByRequest(req: NormalizedRequest): boolean {
    return req.deadlineMs !== undefined && req.deadlineMs < (this.policy.deadlineMs ?? Infinity);
  }

  /** The attempt timeout a request with this task would get now. */
  timeoutFor(model: ResolvedModel, task?: string): number {
    return attemptTimeout(model, task, undefined, this.adaptive, this.latency);
  }

  /** Resolves once the default transport's connections are closed (attempts in flight finish or time out first). */
  close(): Promise<void> {
    this.closed = true;
    this.deadlines.close();
    return this.upstream.close(this.models);
  }

  /** @internal Whether `model` may be called now for this request, and with which messages. */
  prepare(model: ResolvedModel, req: NormalizedRequest, breakers: BreakerRegistry | null, context: ContextPlan | null, tooLongFor: number | undefined): Prepared {
    const skip = (outcome: AttemptRecord['outcome'], message: string): Prepared => ({ ok: false, skip: { model: model.name, outcome, latencyMs: 0, message } });
    const coolUntil = this.cooldowns.until(model.name);
    if (coolUntil !== null) return skip('rate_limited', `cooling down for ${coolUntil - Date.now()} ms`);
    if (breakers && !breakers.for(model.name).canAttempt()) return skip('circuit_open', 'circuit open');
    if (model.maxConcurrent !== undefined && this.inFlight(model.name) >= model.maxConcurrent) {
      return skip('overloaded', `${model.maxConcurrent} calls already in flight`);
    }
    let budgetUsd = 0;
    if (model.price && (this.spend.budget || req.maxCostUsd !== undefined)) {
      const estimate = estimateCostUsd(model, promptTokens(req.messages), capTokens(req.maxTokens, model.maxOutputTokens) ?? 0);
      const why = this.spend.refusal(estimate, req.maxCostUsd);
      if (why) return skip('over_budget', why);
      if (this.spend.budget) budgetUsd = estimate;
    }
    if (tooLongFor !== undefined && model.contextWindow !== undefined && model.contextWindow <= tooLongFor) {
      return skip('skipped_context', `a model with a ${tooLongFor}-token window already found the prompt too long`);
    }
    if (context && model.contextWindow !== undefined) {
      const fit = context.fit(model.contextWindow, capTokens(req.maxTokens, model.maxOutputTokens), req.truncate);
      if (!fit.fits) return skip('skipped_context', `needs ${fit.needed} tokens; the context window is ${model.contextWindow}`);
      return { ok: true, messages: fit.messages, droppedIndexes: fit.droppedIndexes, promptTokens: fit.promptTokens, budgetUsd };
    }
    return { ok: true, messages: req.messages, droppedIndexes: NO_DROPS, promptTokens: -1, budgetUsd };
  }

  /** An attempt the walk awaits: how it ends, as a `Settled` value. */
  #contend(running: Running): Contender {
    const c = running as Contender;
    c.promise = c.raw.then(
      (value) => this.#answered(c, value),
      (error: unknown) => this.#failed(c, error),
    );
    return c;
  }

  /** Starts one attempt on `model`, through its breaker, bounded by its timeout and what is left of the deadline. */
  #launch(
    model: ResolvedModel,
    index: number,
    prepared: Extract<Prepared, { ok: true }>,
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    leftMs: number,
    hedged: boolean,
  ): Running {
    const breaker = breakers?.for(model.name);
    // The full fixed timeout, not an adaptive one, for a half-open probe (a timeout learnt before an incident could
    // keep a recovered model out) and for the last model of the chain (with nothing left to fall back to, timing
    // out early only turns a slow answer into a failure).
    const fixed = breaker?.state === 'half_open' || index === req.chain.length - 1;
    const own = fixed ? model.timeoutMs : attemptTimeout(model, req.task, req.maxTokens, this.adaptive, this.latency);
    const wanted = req.timeoutMs ?? own;
    const timeoutMs = Math.max(1, Math.min(wanted, Math.floor(leftMs)));
    const cancel = this.#hedge ? new AbortLatch() : null;
    this.trackInFlight(model.name, 1);
    if (prepared.budgetUsd > 0) this.spend.reserve(prepared.budgetUsd);
    const started = performance.now();
    const cutByRequest = this.#cutByRequest(model, req, timeoutMs, wanted, fixed ? undefined : own);
    const attempt = new Attempt(this.upstream, model, req, prepared.messages, signals, cancel ?? undefined, timeoutMs, this.deadlines, cutByRequest);
    const raw = breaker ? breaker.run(attempt) : attempt.run();
    return { model, index, hedged, started, cancel, req, raw, done: false, settled: null, deadlineBound: timeoutMs < wanted, prepared };
  }

  /**
   * Whether the request (its own `timeoutMs`, or a deadline tighter than the app's) gave an attempt less time than
   * the model usually needs: its adaptive timeout once it has samples, else its `timeoutMs` (`usual`, when already
   * known). A timeout then is no evidence that the model is slow, and does not count. The app's own deadline applies
   * to every request alike, so a timeout it causes still counts; so does one after the model's usual time.
   */
  #cutByRequest(model: ResolvedModel, req: NormalizedRequest, timeoutMs: number, wanted: number, usual: number | undefined): boolean {
    // the limit that applied: the request's own timeout, or (cut below it) the deadline
    const byRequest = timeoutMs < wanted ? this.deadlineSetByRequest(req) : req.timeoutMs !== undefined;
    return byRequest && timeoutMs < (usual ?? attemptTimeout(model, req.task, req.maxTokens, this.adaptive, this.latency));
  }

  /**
   * An attempt answered: its latency and spend are recorded. The latency of an answer cut by a token limit is not a
   * sample of the model's latency (it says how long the request let it run: a flood of `max_tokens: 1` would
   * otherwise shrink every other request's adaptive timeout).
   */
  #answered(c: Running, value: AttemptAnswer): Settled {
    this.trackInFlight(c.model.name, -1);
    if (c.prepared.budgetUsd > 0) this.spend.release(c.prepared.budgetUsd);
    const latencyMs = elapsed(c.started);
    if (value.answer.finishReason !== 'length') this.latency.record(c.model.name, c.req.task, latencyMs, c.req.maxTokens);
    this.recordSpend(c.model, value.answer.usage);
    return { ok: true, value, latencyMs };
  }

  #failed(c: Running, error: unknown): Settled {
    this.trackInFlight(c.model.name, -1);
    if (c.prepared.budgetUsd > 0) this.spend.release(c.prepared.budgetUsd);
    return { ok: false, failure: toFailure(error), latencyMs: elapsed(c.started), error };
  }

  /**
   * Waits for the first success among hedged contenders (cancelling and recording the others), or for all to
   * fail. Rejects for the caller's cancellation or the caller's own bad request.
   */
  #settle(
    contenders: Contender[],
    attempts: AttemptRecord[],
    requestId: string,
    state: WalkState,
  ): Promise<Running | null> {
    return new Promise((resolve, reject) => {
      let pending = contenders.length;
      let decided = false;
      /** Cancels and records the contenders still running, with why they were stopped. */
      const stopOthers = (except: Running, why: string): void => {
        for (const o of contenders) {
          if (o === except || o.done) continue;
          o.done = true;
          o.cancel?.abort();
          this.record(attempts, requestId, this.#recordOf(o, 'cancelled', elapsed(o.started), why));
        }
      };
      for (const c of contenders) {
        void c.promise.then((settled) => {
          if (c.done) return; // cancelled and recorded already
          c.done = true;
          c.settled = settled;
          if (decided) return;
          try {
            if (this.#judge(c, settled, attempts, requestId, state)) {
              decided = true;
              stopOthers(c, 'another model answered first');
              resolve(c);
            } else if (--pending === 0) {
              decided = true;
              resolve(null);
            }
          } catch (err) {
            decided = true;
            stopOthers(c, err instanceof RequestAbortedError ? CALLER_GONE : 'the request was rejected by another model');
            reject(err);
          }
        });
      }
    });
  }

  /**
   * Records how one contender ended. True when it answered; false when the chain falls through. Throws
   * `RequestAbortedError` when the caller left and `RequestError` when the provider rejected the request itself.
   */
  #judge(c: Running, settled: Settled, attempts: AttemptRecord[], requestId: string, state: WalkState): boolean {
    if (settled.ok) {
      this.record(attempts, requestId, this.#recordOf(c, 'success', settled.latencyMs));
      return true;
    }
    const f = settled.failure;
    if (f.callerAborted) {
      this.record(attempts, requestId, this.#recordOf(c, 'cancelled', settled.latencyMs, CALLER_GONE));
      throw new RequestAbortedError('The request was cancelled', { cause: settled.error, attempts });
    }
    const message = f.outcome === 'timeout' && c.deadlineBound ? 'deadline reached' : f.message;
    const record = this.#recordOf(c, f.outcome, settled.latencyMs, message);
    if (f.status !== undefined) record.status = f.status;
    this.record(attempts, requestId, record);
    if (!f.fallThrough) throw rejectedRequest(c.model.name, f);
    this.learnFrom(c.model, f, state);
    return false;
  }

  #hedgeDelay(model: ResolvedModel, task: string | undefined): number | undefined {
    if (!this.#hedge) return undefined;
    return this.latency.window(model.name, task, this.#hedge.minSamples)?.percentile(this.#hedge.afterPercentile);
  }

  #recordOf(r: Running, outcome: AttemptRecord['outcome'], latencyMs: number, message?: string): AttemptRecord {
    const record: AttemptRecord = { model: r.model.name, outcome, latencyMs };
    if (message !== undefined) record.message = message;
    if (r.hedged) record.hedged = true;
    return record;
  }

  /** @internal */
  record(attempts: AttemptRecord[], requestId: string, record: AttemptRecord): void {
    attempts.push(record);
    if (this.events.has('attempt')) this.events.emit('attempt', { ...record, requestId, index: attempts.length - 1 });
  }

  /** @internal */
  emitFallback(requestId: string, from: ResolvedModel, to: ResolvedModel | undefined, reason: AttemptRecord['outcome']): void {
    if (to && this.events.has('fallback')) this.events.emit('fallback', { requestId, from: from.name, to: to.name, reason });
  }
}

/** The message of an attempt cancelled because its caller went away (signal fired, client disconnected). */
export const CALLER_GONE = 'the caller went away';

/** What a request gets from a closed chain (the app is shutting down: a 503, as when no model is available). */
export function closedError(): AllModelsFailedError {
  return new AllModelsFailedError([], 1, 'The LLM engine is closed: no model is called after close()');
}

/** Resolves true when `ms` passes before `p` settles. */
function timerWins(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(true), timerDelay(ms));
    void p.then(() => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export function toFailure(err: unknown): FailureClass {
  if (err instanceof AttemptFailure) return err.failure;
  if (isOpenBreakerRejection(err)) {
    return { outcome: 'circuit_open', countsAsFailure: false, fallThrough: true, callerAborted: false, message: 'circuit open' };
  }
  return { outcome: 'error', countsAsFailure: true, fallThrough: true, callerAborted: false, message: 'unexpected error' };
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
