/**
 * Token bucket that keeps hedged requests under `maxExtraLoad` of traffic: every request deposits
 * `maxExtraLoad` tokens, a hedge spends one. The bucket holds at most `max(1, 100 × maxExtraLoad)` tokens
 * so a quiet period cannot save up a storm of hedges.
 */
export class HedgeBudget {
  #tokens = 0;
  readonly #capacity: number;

  constructor(
    private readonly maxExtraLoad: number,
    /** Starts with a full bucket (rescues: the first requests of an outage must not wait for deposits). */
    full = false,
  ) {
    this.#capacity = Math.max(1, 100 * maxExtraLoad);
    if (full) this.#tokens = this.#capacity;
  }

  deposit(): void {
    this.#tokens = Math.min(this.#capacity, this.#tokens + this.maxExtraLoad);
  }

  canTake(): boolean {
    return this.#tokens >= 1;
  }

  /** Gives back a token taken for what turned out not to be extra load. */
  refund(): void {
    this.#tokens = Math.min(this.#capacity, this.#tokens + 1);
  }

  tryTake(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
