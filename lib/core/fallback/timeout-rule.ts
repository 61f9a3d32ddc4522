import type { ModelBreaker } from '../breaker/model-breaker';
import { attemptTimeout, attemptTimeoutFrom } from '../latency/adaptive-timeout';
import type { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedAdaptiveTimeout, ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';

/**
 * The timeout rule, for answers (`complete()`) and for a stream's first token alike: what limit an attempt gets,
 * and whether running out of it would be evidence against the model.
 *
 * - Adaptive (once the model has samples) or the model's fixed limit; always the fixed one for a half-open probe (a
 *   timeout learnt before an incident could keep a recovered model out) and for the last model of the chain (with
 *   nothing left to fall back to, timing out early only turns a slow answer into a failure).
 * - The request's own `timeoutMs` replaces it, and what is left of the deadline bounds it.
 * - A limit the request set (its `timeoutMs`, or a deadline tighter than the app's) that is shorter than what the
 *   model usually needs proves nothing when it runs out: see `cutByRequest`.
 */
export interface AttemptLimit {
  /** The limit the attempt runs with (ms). */
  timeoutMs: number;
  /** What the attempt would get without the deadline: the request's `timeoutMs`, else the model's own limit. */
  wanted: number;
  /** The model's usual limit now (adaptive, or fixed before it has samples): what the request is compared with. */
  usual: number;
  /** The deadline cut the limit below `wanted`. */
  deadlineBound: boolean;
}

/** The inputs of the rule that stay for the app's lifetime. */
export interface TimeoutPolicy {
  adaptive: ResolvedAdaptiveTimeout | false;
  /** Answers' latency, per model and task. */
  latency: LatencyTracker;
  /** Streams' time to first token, per model and task. */
  firstTokenLatency: LatencyTracker;
  /** The app's own `deadlineMs` (a request's tighter one is the request's choice). */
  appDeadlineMs: number | undefined;
}

/** Whether the attempt gets its model's full fixed limit: a half-open probe, or the last model of the chain. */
export function usesFixedLimit(breaker: ModelBreaker | undefined, index: number, req: NormalizedRequest): boolean {
  return breaker?.state === 'half_open' || index === req.chain.length - 1;
}

/** The limit of an attempt that must answer whole (`complete()`), with `leftMs` left of the request's deadline. */
export function answerLimit(policy: TimeoutPolicy, model: ResolvedModel, req: NormalizedRequest, fixed: boolean, leftMs: number): AttemptLimit {
  const usual = attemptTimeout(model, req.task, req.maxTokens, policy.adaptive, policy.latency);
  return bounded(req, fixed ? model.timeoutMs : usual, usual, leftMs);
}

/** The limit on a stream's first token (the idle timeout between tokens is the model's `idleTimeoutMs`). */
export function firstTokenLimit(policy: TimeoutPolicy, model: ResolvedModel, req: NormalizedRequest, fixed: boolean, leftMs: number): AttemptLimit {
  const window = policy.firstTokenLatency.window(model.name, req.task, policy.adaptive ? policy.adaptive.minSamples : Infinity);
  const usual = attemptTimeoutFrom(model.firstTokenTimeoutMs, window, policy.adaptive, undefined);
  return bounded(req, fixed ? model.firstTokenTimeoutMs : usual, usual, leftMs);
}

function bounded(req: NormalizedRequest, own: number, usual: number, leftMs: number): AttemptLimit {
  const wanted = req.timeoutMs ?? own;
  const timeoutMs = Math.max(1, Math.min(wanted, Math.floor(leftMs)));
  return { timeoutMs, wanted, usual, deadlineBound: timeoutMs < wanted };
}

/** Whether the request set itself a deadline tighter than the app's (a timeout it causes is not the model's failure). */
export function deadlineSetByRequest(policy: TimeoutPolicy, req: NormalizedRequest): boolean {
  return req.deadlineMs !== undefined && req.deadlineMs < (policy.appDeadlineMs ?? Infinity);
}

/**
 * Whether the request (its own `timeoutMs`, or a deadline tighter than the app's) gave an attempt less time than
 * the model usually needs: a timeout then is no evidence that the model is slow, and does not count. The app's own
 * deadline applies to every request alike, so a timeout it causes still counts; so does one after the model's
 * usual time.
 */
export function cutByRequest(policy: TimeoutPolicy, req: NormalizedRequest, limit: AttemptLimit): boolean {
  // the limit that applied: the request's own timeout, or (cut below it) the deadline
  const byRequest = limit.deadlineBound ? deadlineSetByRequest(policy, req) : req.timeoutMs !== undefined;
  return byRequest && limit.timeoutMs < limit.usual;
}
