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

  /** Epoch ms when the model's cool-down ends, or null when it may be called now. */
  until(model: string, now = Date.now()): number | null {
    const u = this.#until.get(model);
    if (u === undefined) return null;
    if (u <= now) {
      this.#until.delete(model);
      return null;
    }
    return u;
  }
}
