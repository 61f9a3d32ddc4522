import type { AttemptRecord } from '../../types';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import type { ContextPlan } from '../context/context-plan';
import { estimateCostUsd, type SpendTracker } from '../cost/spend-tracker';
import type { ResolvedModel } from '../options/resolve-options';
import { type NormalizedRequest } from '../request/normalize-request';
import { promptTokens } from '../request/prompt-size';
import type { FleetSync } from '../shared/fleet-sync';
import { capTokens } from '../provider/answer';
import type { Cooldowns } from './cooldowns';

/** May the model be called now for this request, and with which messages (trimmed to fit its window)? */
export type Admitted =
  /** `budgetUsd`: the call's estimate, reserved against the app's budget while it runs (0 without a budget or price). */
  | { ok: true; messages: NormalizedRequest['messages']; droppedIndexes: number[]; promptTokens: number; budgetUsd: number }
  | { ok: false; skip: AttemptRecord };

/** What admission reads: the chain's cool-downs, calls in flight and spend. */
export interface AdmissionState {
  readonly cooldowns: Cooldowns;
  readonly spend: SpendTracker;
  inFlight(model: string): number;
}

/** No message dropped to fit a context window (shared, never written to). */
const NO_DROPS: number[] = [];

/**
 * The gates in front of every attempt, for `complete()` and streams alike, in this order:
 * 1. the context window (prompt + `maxTokens`, or a larger window that already refused the prompt): the one reason
 *    that lasts (no retry changes it), so a model ruled out by it is `skipped_context` even while it is also
 *    cooling down or open, and a prompt that fits no model is the caller's 413, never a 503 to retry;
 * 2. a 429 cool-down; 3. the breaker (closed, or half-open with its probe slot free); 4. the bulkhead
 *    (`maxConcurrent`); 5. the spend budget and the request's `maxCostUsd`.
 */
export function admit(
  state: AdmissionState,
  model: ResolvedModel,
  req: NormalizedRequest,
  breakers: BreakerRegistry | null,
  context: ContextPlan | null,
  tooLongFor: number | undefined,
): Admitted {
  const skip = (outcome: AttemptRecord['outcome'], message: string): Admitted => ({ ok: false, skip: { model: model.name, outcome, latencyMs: 0, message } });
  if (tooLongFor !== undefined && model.contextWindow !== undefined && model.contextWindow <= tooLongFor) {
    return skip('skipped_context', `a model with a ${tooLongFor}-token window already found the prompt too long`);
  }
  let messages = req.messages;
  let droppedIndexes = NO_DROPS;
  let tokens = -1;
  if (context && model.contextWindow !== undefined) {
    const fit = context.fit(model.contextWindow, capTokens(req.maxTokens, model.maxOutputTokens), req.truncate, model.provider?.promptTokenScale ?? 1);
    if (!fit.fits) return skip('skipped_context', `needs ${fit.needed} tokens; the context window is ${model.contextWindow}`);
    messages = fit.messages;
    droppedIndexes = fit.droppedIndexes;
    tokens = fit.promptTokens;
  }
  const coolUntil = state.cooldowns.until(model.name);
  if (coolUntil !== null) return skip('rate_limited', `cooling down for ${coolUntil - Date.now()} ms`);
  if (breakers && !breakers.for(model.name).canAttempt()) return skip('circuit_open', 'circuit open');
  if (model.maxConcurrent !== undefined && state.inFlight(model.name) >= model.maxConcurrent) {
    return skip('overloaded', `${model.maxConcurrent} calls already in flight`);
  }
  let budgetUsd = 0;
  if (model.price && (state.spend.budget || req.maxCostUsd !== undefined)) {
    const estimate = estimateCostUsd(model, promptTokens(req.messages), capTokens(req.maxTokens, model.maxOutputTokens) ?? 0);
    const why = state.spend.refusal(estimate, req.maxCostUsd);
    if (why) return skip('over_budget', why);
    if (state.spend.budget) budgetUsd = estimate;
  }
  return { ok: true, messages, droppedIndexes, promptTokens: tokens, budgetUsd };
}

/** The skip recorded when another process of the fleet holds a half-open model's probe. */
export const ANOTHER_PROCESS_PROBES = 'another process is probing';

/**
 * The last gate, with a shared store: a half-open model is probed by one process of the fleet only (always true
 * without a shared store, or when the breaker is not half-open).
 */
export function fleetMayProbe(fleet: FleetSync | null, model: ResolvedModel, breakers: BreakerRegistry | null): Promise<boolean> | true {
  if (!fleet || breakers?.peek(model.name)?.state !== 'half_open') return true;
  return fleet.tryProbe(model.name, Math.max(model.timeoutMs, model.firstTokenTimeoutMs) * 2);
}
