/**
 * Every option's default, in one place: what an option left out means. The options resolver fills the engine's
 * options from it (`resolveOptions`), the adapters their own (the gateway, the dashboard, `redisStore`), and the
 * README's Options table states the same values (a test reads both). Deeply frozen.
 */
export const OPTION_DEFAULTS = deepFreeze({
  /** Each of `models[]`. */
  models: {
    /** `models[].provider`: the OpenAI-compatible one. */
    provider: 'openai',
    /** Time one attempt may take before it is aborted (`firstTokenTimeoutMs` defaults to the model's `timeoutMs`). */
    timeoutMs: 2000,
    /** Streams: the longest silence between chunks once the answer has started. */
    idleTimeoutMs: 5000,
    prefill: false,
  },
  breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000, consecutiveFailures: 5 },
  /** On unless `cache: false`. */
  cache: {
    max: 1000,
    ttlMs: 600_000,
    /** At most `ttlMs`. */
    fallbackTtlMs: 30_000,
    lockWaitMs: 5000,
    /** Off unless given; these fill what `cache.semantic` leaves out (`embeddingModel` is required). */
    semantic: { threshold: 0.95, maxEntries: 1000, timeoutMs: 1000, allowNonDeterministic: false },
  },
  rateLimit: { defaultCooldownMs: 1000, maxCooldownMs: 60_000 },
  /** On: a model's timeout adapts once it has enough samples (`false` keeps it fixed). */
  adaptiveTimeout: true,
  hedge: false,
  /** On: transient failures are retried once on the same model, within a retry budget. */
  retry: true,
  /** On: a half-open probe (or a first attempt slower than its model's usual) is answered for by the next model. */
  rescue: true,
  truncate: false,
  acceptTruncated: false,
  midStream: 'error',
  onRefusal: 'return',
  latencyWindow: 200,
  reviewLogSize: 100,
  exposeHeaders: false,
  tracing: true,
  /** What `true` means for the options that are a switch or an object (and fills what such an object leaves out). */
  switchedOn: {
    adaptiveTimeout: { percentile: 95, multiplier: 1.5, minSamples: 20, minTimeoutMs: 50 },
    hedge: { afterPercentile: 95, maxExtraLoad: 0.1, minSamples: 20 },
    retry: { maxRetries: 1, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 3000, budgetRatio: 0.1, budgetMinRetries: 3, budgetWindowMs: 10_000 },
    rescue: { afterPercentile: 99, minSamples: 20, maxExtraLoad: 0.02 },
  },
  /** `openAICompatibleRouter()` / `openAICompatibleExpress()`. */
  gateway: { prefix: '/v1', maxBodyBytes: 32 * 1024 * 1024 },
  /** `dashboardRouter()` / `dashboardExpress()`. */
  dashboard: { prefix: '/dashboard', intervalMs: 1000 },
  /** `redisStore()`. */
  redisStore: { prefix: 'klr:', timeoutMs: 50 },
} as const);

export type OptionDefaults = typeof OPTION_DEFAULTS;

/**
 * What a model with `deployments` leaves out: `models[].strategy` and `models[].deployments[].weight` (the README
 * states them in their rows' meaning, as they apply only with deployments).
 */
export const DEPLOYMENT_DEFAULTS = Object.freeze({ strategy: 'weighted', weight: 1 } as const);

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

function deepFreeze<T extends object>(o: T): DeepReadonly<T> {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o) as DeepReadonly<T>;
}
