/** Base class of every error this library throws. Each subclass has a stable `code`. */
export abstract class LlmResilienceError extends Error {
  /** Stable machine-readable code, e.g. `ALL_MODELS_FAILED`. */
  abstract readonly code: string;
  /** HTTP status a Koa app should answer with. */
  abstract readonly status: number;
  /** Whether `message` is safe to show to an HTTP client (Koa's convention). */
  abstract readonly expose: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
