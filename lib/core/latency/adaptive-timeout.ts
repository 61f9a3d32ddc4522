import type { ResolvedAdaptiveTimeout } from '../options/resolve-options';
import type { ResolvedModel } from '../options/resolve-options';
import type { LatencyTracker } from './latency-tracker';
import type { LatencyWindow } from './latency-window';

/**
 * The timeout policy. Fixed: the model's `timeoutMs`. Adaptive, once the model (for this task, else for
 * all tasks) has `minSamples` successful latencies:
 *   clamp(p<percentile> × multiplier × scale, minTimeoutMs, timeoutMs)
 * where scale = request maxTokens / median maxTokens of the samples when the request asks for more
 * output than usual (longer answers take longer), else 1. Rounded up to a multiple of 10 ms: concurrent
 * attempts then share Node's timer lists (one list per distinct duration) instead of churning new ones.
 */
export function attemptTimeout(
  model: ResolvedModel,
  task: string | undefined,
  maxTokens: number | undefined,
  policy: ResolvedAdaptiveTimeout | false,
  latency: LatencyTracker,
): number {
  if (!policy) return model.timeoutMs;
  return attemptTimeoutFrom(model.timeoutMs, latency.window(model.name, task, policy.minSamples), policy, maxTokens);
}

/** The policy on one latency window; `ceilingMs` is the fixed timeout it may never exceed. */
export function attemptTimeoutFrom(
  ceilingMs: number,
  w: LatencyWindow | undefined,
  policy: ResolvedAdaptiveTimeout | false,
  maxTokens: number | undefined,
): number {
  const p = policy ? w?.percentile(policy.percentile) : undefined;
  if (!policy || !w || p === undefined) return ceilingMs;
  let scale = 1;
  const usual = maxTokens === undefined ? undefined : w.medianMaxTokens();
  if (maxTokens !== undefined && usual !== undefined && maxTokens > usual) scale = maxTokens / usual;
  const t = Math.ceil((p * policy.multiplier * scale) / 10) * 10;
  return Math.round(Math.min(ceilingMs, Math.max(policy.minTimeoutMs, t)));
}
