import type { AttemptRecord } from '../../types';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import { ContextPlan } from '../context/context-plan';
import { DeadlineQueue } from '../deadline-queue';
import type { EventBus } from '../events/event-bus';
import { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedAdaptiveTimeout, ResolvedHedge, ResolvedModel, ResolvedOptions, ResolvedRescue, ResolvedRetry } from '../options/resolve-options';
import { type NormalizedRequest, type RequestPolicy, requestValidator } from '../request/normalize-request';
import { loadTokenizer } from '../request/prompt-size';
import type { AbortSource } from '../signals';
import type { UpstreamAnswer } from '../provider/answer';
import { Providers } from '../provider/providers';
import type { DefaultProviderFactory } from '../provider/provider-port';
import { type FailureClass, lessonsOf } from './attempt-failure';
import { admit, type Admitted, fleetMayProbe } from './admission';
import { AttemptLog, type WalkState } from './attempt-log';
import { ChainWalk, type ChainSuccess, type RunEnd } from './chain-walk';
import { deadlineSetByRequest, type TimeoutPolicy } from './timeout-rule';
import type { FleetSync } from '../shared/fleet-sync';
import type { TenantLimits } from '../limits/tenant-limits';
import { Cooldowns } from './cooldowns';
import { costUsd, SpendTracker } from '../cost/spend-tracker';
import { HedgeBudget } from './hedge-budget';
import { RetryBudget } from './retry-rule';
import { hasDeploymentGroups, orderDeployments } from './deployment-order';

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
  | 'retry'
  | 'rescue'
  | 'truncate'
  | 'acceptTruncated'
  | 'midStream'
  | 'onRefusal'
  | 'latencyWindow'
  | 'budget'
>;

/**
 * The chain's state, for the app's lifetime: its models and their providers, 429 cool-downs, latencies (answers
 * and streams' first tokens), spend, calls in flight per model, the hedge budget, the attempt log; and `close()`.
 * How a request walks it (admission, timeouts, hedging, judging, falling through) is `ChainWalk`'s, for
 * `complete()` (`run`) and streams alike (`walker`).
 */
export class FallbackChain implements TimeoutPolicy {
  readonly models: readonly ResolvedModel[];
  /** Every model's provider (its own `ChatProvider`, or the OpenAI-compatible one). */
  readonly upstream: Providers;
  readonly cooldowns: Cooldowns;
  readonly latency: LatencyTracker;
  /** Streams: time to first token per model and task. */
  readonly firstTokenLatency: LatencyTracker;
  readonly policy: RequestPolicy;
  readonly adaptive: ResolvedAdaptiveTimeout | false;
  /** @internal Hedged requests' settings (false: off). */
  readonly hedge: ResolvedHedge | false;
  /** @internal Keeps hedged requests under `hedge.maxExtraLoad` of all requests. */
  readonly hedgeBudget: HedgeBudget | null;
  /** @internal Same-model retries' settings (false: off), and each model's retry budget. */
  readonly retry: ResolvedRetry | false;
  readonly retryBudget: RetryBudget | null;
  /** @internal Rescues' settings (false: off), and what keeps the unneeded ones under `rescue.maxExtraLoad`. */
  readonly rescue: ResolvedRescue | false;
  readonly rescueBudget: HedgeBudget | null;
  readonly #inFlight = new Map<string, number>();
  readonly spend: SpendTracker;
  /** Fleet-wide breaker state, when a shared store is configured: one process probes for all. */
  fleet: FleetSync | null = null;
  /** Limits per tenant (`tenantLimits`), checked before the cache; null: none. */
  tenantLimits: TenantLimits | null = null;
  readonly #usesContext: boolean;
  /** Every attempt's timeout, on one timer (see `DeadlineQueue`). */
  readonly deadlines = new DeadlineQueue();
  /** Set by `close()`: no model is called any more (attempts already in flight finish or time out). */
  closed = false;
  /** Every attempt's record and the `attempt` and `fallback` events. */
  readonly log: AttemptLog;
  /** @internal The walk of this chain, for `complete()` and streams. */
  readonly walker: ChainWalk;
  /** Some model has several deployments (each request orders them: see `orderDeployments`). */
  readonly #deployments: boolean;
  /** @internal A number in [0, 1) for the weighted order of deployments (tests give their own). */
  random: () => number = Math.random;

  constructor(
    options: ChainOptions,
    readonly events: EventBus,
    /** Makes the provider of the models without one of their own (see `EngineDefaults`). */
    defaultProvider: DefaultProviderFactory,
  ) {
    this.models = options.models;
    this.log = new AttemptLog(events);
    this.policy = {
      maxPromptChars: options.maxPromptChars,
      maxPromptTokens: options.maxPromptTokens,
      deadlineMs: options.deadlineMs,
      truncate: options.truncate,
      acceptTruncated: options.acceptTruncated,
      midStream: options.midStream,
      onRefusal: options.onRefusal,
    };
    this.#usesContext = options.models.some((m) => m.contextWindow !== undefined);
    requestValidator(); // compiled at start-up, not by the first request
    if (options.maxPromptTokens !== undefined || this.#usesContext) loadTokenizer();
    this.upstream = new Providers(options.models, options.fetch, defaultProvider);
    this.cooldowns = new Cooldowns(options.rateLimit.defaultCooldownMs, options.rateLimit.maxCooldownMs);
    this.spend = new SpendTracker(options.budget);
    if (options.budget) loadTokenizer();
    this.latency = new LatencyTracker(options.latencyWindow);
    this.firstTokenLatency = new LatencyTracker(options.latencyWindow);
    this.adaptive = options.adaptiveTimeout;
    this.hedge = options.hedge;
    this.hedgeBudget = options.hedge ? new HedgeBudget(options.hedge.maxExtraLoad) : null;
    this.retry = options.retry;
    this.retryBudget = options.retry ? new RetryBudget(options.retry) : null;
    this.rescue = options.rescue;
    this.rescueBudget = options.rescue ? new HedgeBudget(options.rescue.maxExtraLoad, true) : null;
    this.walker = new ChainWalk(this);
    this.#deployments = hasDeploymentGroups(options.models);
  }

  /**
   * @internal The request with each model's deployments in the order this request tries them (see
   * `orderDeployments`); the request itself when its chain has no model with several deployments.
   */
  withDeploymentOrder(req: NormalizedRequest, streaming: boolean): NormalizedRequest {
    if (!this.#deployments) return req;
    const chain = orderDeployments(req.chain, this, req.task, streaming);
    return chain === req.chain ? req : { ...req, chain };
  }

  /**
   * Walks the request's chain for `complete()` (see `ChainWalk.run`): the first model's answer, or the next's, or
   * `AllModelsFailedError`. `end` is the caller's last step; `requestDeadlineAt`: when the request's `deadlineMs`
   * ends (`performance.now()` time), if it started before the chain (the cache's steps).
   */
  run<T = ChainSuccess>(
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSource | undefined)[],
    requestId: string,
    end?: RunEnd<T>,
    requestDeadlineAt?: number,
  ): Promise<T> {
    return this.walker.run(req, breakers, signals, requestId, end, requestDeadlineAt);
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
  mayProbe(model: ResolvedModel, breakers: BreakerRegistry | null): Promise<boolean> | true {
    return fleetMayProbe(this.fleet, model, breakers);
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
    const lessons = lessonsOf(f);
    if (lessons.coolDown) {
      const ms = this.cooldowns.start(model.name, f.retryAfterMs);
      this.events.emit('cooldown', { model: model.name, ms, until: this.cooldowns.until(model.name) ?? Date.now() + ms });
    }
    if (lessons.learnsContextWindow && model.contextWindow !== undefined) {
      state.tooLongFor = Math.max(state.tooLongFor ?? 0, model.contextWindow);
    }
  }

  /** @internal The app's own deadline (see `TimeoutPolicy`). */
  get appDeadlineMs(): number | undefined {
    return this.policy.deadlineMs;
  }

  /** @internal Whether the request set itself a deadline tighter than the app's (a timeout it causes is not the model's failure). */
  deadlineSetByRequest(req: NormalizedRequest): boolean {
    return deadlineSetByRequest(this, req);
  }

  /** Resolves once the default transport's connections are closed (attempts in flight finish or time out first). */
  close(): Promise<void> {
    this.closed = true;
    this.deadlines.close();
    return this.upstream.close(this.models);
  }

  /** @internal Whether `model` may be called now for this request, and with which messages (see `admit`). */
  prepare(model: ResolvedModel, req: NormalizedRequest, breakers: BreakerRegistry | null, context: ContextPlan | null, tooLongFor: number | undefined): Admitted {
    return admit(this, model, req, breakers, context, tooLongFor);
  }

  /**
   * @internal A successful attempt's latency, as a sample of the model's usual latency (adaptive timeouts, hedging),
   * only when the model ended the answer on its own. An answer a request cut short (at its `maxTokens`, or at one of
   * its `stop` sequences: an answer ended by a stop sequence cannot be told from one that ended by itself, so no
   * answer to a request with `stop` is a sample) says how long the request let it run, not how long the model takes:
   * a flood of such requests would otherwise shrink every other tenant's adaptive timeout until ordinary answers
   * time out and count against the model. A stream's time to first token (`firstTokenMs`) follows the same rule.
   */
  recordLatency(model: ResolvedModel, req: NormalizedRequest, finishReason: string | null | undefined, latencyMs: number, firstTokenMs?: number): void {
    if (finishReason === 'length' || hasStop(req.stop)) return;
    this.latency.record(model.name, req.task, latencyMs, req.maxTokens);
    if (firstTokenMs !== undefined) this.firstTokenLatency.record(model.name, req.task, firstTokenMs, req.maxTokens);
  }

  /** @internal */
  record(attempts: AttemptRecord[], requestId: string, record: AttemptRecord): void {
    this.log.record(attempts, requestId, record);
  }

  /** @internal */
  emitFallback(requestId: string, from: ResolvedModel, to: ResolvedModel | undefined, reason: AttemptRecord['outcome']): void {
    this.log.fallback(requestId, from, to, reason);
  }
}

export type { ChainSuccess, RunEnd };

function hasStop(stop: string | string[] | undefined): boolean {
  return stop !== undefined && (typeof stop === 'string' ? stop !== '' : stop.some((x) => x !== ''));
}
