/** 429 cool-downs: a rate-limited model is skipped, with no network call, until its cool-down ends. */
export class Cooldowns {
  readonly #until = new Map<string, number>();

  constructor(
    private readonly defaultMs: number,
    private readonly maxMs: number,
  ) {}

  /** Starts (or extends) a cool-down; returns its length in ms. */
  start(model: string, requestedMs: number | undefined, now = Date.now()): number {
    const ms = Math.min(requestedMs ?? this.defaultMs, this.maxMs);
    const until = now + ms;
    if (until > (this.#until.get(model) ?? 0)) this.#until.set(model, until);
    return ms;
  }

  /**
   * Epoch ms when the model's cool-down ends, or null when it may be called now. A cool-down never has more
   * than `maxMs` left: if the system clock steps back (NTP, a resumed VM), the end moves with it instead of
   * keeping the model out for as long as the step.
   */
  until(model: string, now = Date.now()): number | null {
    let u = this.#until.get(model);
    if (u === undefined) return null;
    if (u <= now) {
      this.#until.delete(model);
      return null;
    }
    if (u - now > this.maxMs) {
      u = now + this.maxMs;
      this.#until.set(model, u);
    }
    return u;
  }
}
