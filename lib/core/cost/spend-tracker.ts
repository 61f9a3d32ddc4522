import type { ResolvedModel } from '../options/resolve-options';

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;

export interface ModelSpend {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

/**
 * Spend per model (totals since start) and app-wide over the last hour and day (per-minute buckets), against
 * an optional budget. A model whose estimated cost would exceed what is left is skipped (`over_budget`).
 */
export class SpendTracker {
  readonly #totals = new Map<string, ModelSpend>();
  readonly #buckets = new Float64Array(DAY_MINUTES);
  readonly #bucketMinute = new Float64Array(DAY_MINUTES).fill(-1);
  /** The estimates of the calls in flight that a budget may have to pay for (see `reserve`). */
  #reserved = 0;
  #reservations = 0;

  constructor(readonly budget: { usdPerHour: number | undefined; usdPerDay: number | undefined } | undefined) {}

  record(model: string, promptTokens: number, completionTokens: number, cost: number, now?: number): void {
    let t = this.#totals.get(model);
    if (!t) {
      t = { requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
      this.#totals.set(model, t);
    }
    t.requests++;
    t.promptTokens += promptTokens;
    t.completionTokens += completionTokens;
    t.costUsd += cost;
    if (cost > 0) {
      const minute = Math.floor((now ?? Date.now()) / MINUTE);
      const i = minute % DAY_MINUTES;
      if (this.#bucketMinute[i] !== minute) {
        this.#bucketMinute[i] = minute;
        this.#buckets[i] = 0;
      }
      this.#buckets[i] += cost;
    }
  }

  /**
   * A call is starting: its estimate counts against the budget until it ends (`release`), so a burst of calls
   * cannot all pass the check before any of them has been paid for.
   */
  reserve(usd: number): void {
    this.#reserved += usd;
    this.#reservations++;
  }

  release(usd: number): void {
    // back to exactly 0 when nothing is in flight, so sums of floats do not drift
    this.#reserved = --this.#reservations === 0 ? 0 : Math.max(0, this.#reserved - usd);
  }

  /** USD estimated for the calls in flight. */
  get inFlightUsd(): number {
    return this.#reserved;
  }

  totals(model: string): ModelSpend {
    return { ...(this.#totals.get(model) ?? { requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 }) };
  }

  /** USD spent over the last `minutes` minutes. */
  spentOver(minutes: number, now = Date.now()): number {
    const current = Math.floor(now / MINUTE);
    let sum = 0;
    for (let k = 0; k < minutes; k++) {
      const minute = current - k;
      const i = ((minute % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES;
      if (this.#bucketMinute[i] === minute) sum += this.#buckets[i];
    }
    return sum;
  }

  /** Why `model` may not be used for a call estimated at `estimateUsd`, or null when it may. */
  refusal(estimateUsd: number, maxCostUsd: number | undefined): string | null {
    if (maxCostUsd !== undefined && estimateUsd > maxCostUsd) return `estimated $${estimateUsd.toFixed(6)} exceeds maxCostUsd $${maxCostUsd}`;
    const b = this.budget;
    if (!b || estimateUsd === 0) return null;
    const committed = this.#reserved + estimateUsd;
    if (b.usdPerHour !== undefined && this.spentOver(60) + committed > b.usdPerHour) return `hourly budget of $${b.usdPerHour} would be exceeded`;
    if (b.usdPerDay !== undefined && this.spentOver(DAY_MINUTES) + committed > b.usdPerDay) return `daily budget of $${b.usdPerDay} would be exceeded`;
    return null;
  }
}

/** Estimated cost of one call: prompt tokens × input price + output tokens (maxTokens, capped) × output price. */
export function estimateCostUsd(model: ResolvedModel, promptTokens: number, outputTokens: number): number {
  if (!model.price) return 0;
  return (promptTokens * model.price.inputPerMTok + outputTokens * model.price.outputPerMTok) / 1_000_000;
}

/** Cost of an answer from the model's price; undefined when it has none. */
export function costUsd(model: ResolvedModel, u: { promptTokens: number; completionTokens: number }): number | undefined {
  if (!model.price) return undefined;
  return (u.promptTokens * model.price.inputPerMTok + u.completionTokens * model.price.outputPerMTok) / 1_000_000;
}
