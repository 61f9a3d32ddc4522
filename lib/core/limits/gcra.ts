/**
 * GCRA (the generic cell rate algorithm), the arithmetic of every tenant limit: a limit of `limit` units per
 * `windowMs` refills continuously, one unit every `windowMs / limit` ms, and holds at most `limit` (a whole window's
 * worth may be used at once). Its only state is the theoretical arrival time (`tat`, epoch ms): when the tenant's
 * usage so far will have drained. A take of `cost` units is admitted when `tat + cost × interval` is at most one
 * window ahead of now. The Redis script (`limit-script.ts`) does the same steps, atomically, in Redis.
 */

/** One limit of one request: its window, its size and what the request takes from it. */
export interface LimitSpec {
  readonly windowMs: number;
  readonly limit: number;
  /** Units this request takes (a take) or gives back (negative) or owes on top (positive) (a settlement). */
  readonly cost: number;
}

/** What a take or a settlement left: admitted or not, the limit that refused (its index), and each limit's `tat`. */
export interface LimitOutcome {
  readonly allowed: boolean;
  /** Index of the limit that frees up last among those that refused; -1 when admitted. */
  readonly worst: number;
  /** Ms until the refused request would be admitted (0 when admitted). */
  readonly retryMs: number;
  /** The clock the outcome was computed at (Redis's own clock for the fleet). */
  readonly now: number;
  /** Each limit's `tat` afterwards (unchanged when refused). */
  readonly tats: readonly number[];
}

/**
 * One take (all limits or none) or one settlement (always applied, never below now) on the current `tats`
 * (0: none yet). Pure: the caller stores the new `tats` when `allowed`.
 */
export function gcraStep(mode: 'take' | 'give', specs: readonly LimitSpec[], tats: readonly number[], now: number): LimitOutcome {
  const current: number[] = [];
  const next: number[] = [];
  let worst = -1;
  let retryMs = -1;
  specs.forEach((s, i) => {
    const tat = Math.max(tats[i] ?? 0, now);
    let nt = tat + (s.cost * s.windowMs) / s.limit;
    if (mode === 'give') nt = Math.max(nt, now);
    else if (nt - now > s.windowMs && nt - now - s.windowMs > retryMs) {
      worst = i;
      retryMs = nt - now - s.windowMs;
    }
    current.push(tat);
    next.push(nt);
  });
  if (worst >= 0) return { allowed: false, worst, retryMs, now, tats: current };
  return { allowed: true, worst: -1, retryMs: 0, now, tats: next };
}

/** A limit's state at `tat`: what is left (whole units) and ms until all of it is back. */
export function limitState(spec: Pick<LimitSpec, 'windowMs' | 'limit'>, tat: number, now: number): { remaining: number; resetMs: number } {
  const used = Math.max(0, tat - now);
  const interval = spec.windowMs / spec.limit;
  const remaining = Math.max(0, Math.min(spec.limit, Math.floor((spec.windowMs - used) / interval + 1e-9)));
  return { remaining, resetMs: Math.ceil(used) };
}

/** Entries kept before the expired ones are swept; and the most ever kept (the oldest go first beyond it). */
const SWEEP_AT = 10_000;
const MAX_ENTRIES = 100_000;

/**
 * The per-process limiter: the same steps on a `Map` of `tat`s. Used while the shared store is down (or without
 * one): each process then enforces each limit on its own. A key whose `tat` has passed holds nothing, and is
 * swept once the map grows; beyond `MAX_ENTRIES` the least recently used go first.
 */
export class LocalGcra {
  readonly #tats = new Map<string, number>();

  apply(mode: 'take' | 'give', keys: readonly string[], specs: readonly LimitSpec[], now = Date.now()): LimitOutcome {
    const out = gcraStep(
      mode,
      specs,
      keys.map((k) => this.#tats.get(k) ?? 0),
      now,
    );
    if (out.allowed) keys.forEach((k, i) => this.#put(k, out.tats[i], now));
    return out;
  }

  get size(): number {
    return this.#tats.size;
  }

  #put(key: string, tat: number, now: number): void {
    this.#tats.delete(key); // re-inserted last: the map's order is least recently used first
    if (tat <= now) return;
    this.#tats.set(key, tat);
    if (this.#tats.size <= SWEEP_AT) return;
    for (const [k, t] of this.#tats) if (t <= now) this.#tats.delete(k);
    for (const k of this.#tats.keys()) {
      if (this.#tats.size <= MAX_ENTRIES) break;
      this.#tats.delete(k);
    }
  }
}
