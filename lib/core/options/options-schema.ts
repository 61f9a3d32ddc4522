import { MAX_TIMER_MS } from '../timer-delay';

/**
 * A duration option in ms: an integer from `minimum` to `maximum` (at most `MAX_TIMER_MS`, the longest delay a Node
 * timer takes: a longer one would fire after 1 ms).
 */
function durationMs(minimum: number, maximum: number = MAX_TIMER_MS) {
  return { type: 'integer', minimum, maximum } as const;
}

/** `models[].provider` (and a deployment's): a native family's name, or an object with the methods of a ChatProvider. */
const PROVIDER = {
  anyOf: [
    { enum: ['openai', 'anthropic', 'gemini'] },
    { type: 'object', required: ['complete'], properties: { complete: { type: 'object' }, stream: { type: 'object' }, close: { type: 'object' } } },
  ],
} as const;

/** The longest timeout of one attempt (`models[].timeoutMs`, `firstTokenTimeoutMs`, `idleTimeoutMs`): an hour. */
export const MAX_ATTEMPT_TIMEOUT_MS = 3_600_000;

/** The JSON schema of `LlmResilienceOptions` (functions such as `cache.scope` are checked by the resolver). */
export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    models: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['model'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          model: { type: 'string', minLength: 1, maxLength: 200 },
          baseURL: { type: 'string', minLength: 1 },
          apiKey: { type: 'string', minLength: 1 },
          timeoutMs: durationMs(1, MAX_ATTEMPT_TIMEOUT_MS),
          contextWindow: { type: 'integer', minimum: 1 },
          maxOutputTokens: { type: 'integer', minimum: 1 },
          maxConcurrent: { type: 'integer', minimum: 1 },
          firstTokenTimeoutMs: durationMs(1, MAX_ATTEMPT_TIMEOUT_MS),
          idleTimeoutMs: durationMs(1, MAX_ATTEMPT_TIMEOUT_MS),
          prefill: { type: 'boolean' },
          // a ChatProvider's methods are checked as functions after the schema (the schema sees them as {})
          provider: PROVIDER,
          deployments: {
            type: 'array',
            minItems: 1,
            maxItems: 100,
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                name: { type: 'string', minLength: 1, maxLength: 200 },
                baseURL: { type: 'string', minLength: 1 },
                apiKey: { type: 'string', minLength: 1 },
                model: { type: 'string', minLength: 1, maxLength: 200 },
                provider: PROVIDER,
                maxConcurrent: { type: 'integer', minimum: 1 },
                weight: { type: 'number', minimum: 0, maximum: 1_000_000 },
              },
            },
          },
          strategy: { enum: ['weighted', 'least-busy', 'lowest-latency'] },
          price: {
            type: 'object',
            additionalProperties: false,
            required: ['inputPerMTok', 'outputPerMTok'],
            properties: {
              inputPerMTok: { type: 'number', minimum: 0 },
              outputPerMTok: { type: 'number', minimum: 0 },
            },
          },
        },
      },
    },
    breaker: {
      type: 'object',
      additionalProperties: false,
      properties: {
        errorThresholdPercentage: { type: 'number', minimum: 0, maximum: 100 },
        volumeThreshold: { type: 'integer', minimum: 0 },
        rollingWindowMs: durationMs(10),
        resetTimeoutMs: durationMs(1),
        consecutiveFailures: { type: 'integer', minimum: 0, maximum: 1000 },
      },
    },
    cache: {
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            // lru-cache allocates its arrays for `max` entries at once: 2^31 would end the process (out of
            // memory) instead of being a ConfigError. A million entries preallocates about 30 MB.
            max: { type: 'integer', minimum: 1, maximum: 1_000_000 },
            maxBytes: { type: 'integer', minimum: 1 },
            ttlMs: durationMs(1),
            fallbackTtlMs: durationMs(0),
            scope: {},
            store: { type: 'object' },
            lockWaitMs: durationMs(0),
            semantic: {
              type: 'object',
              additionalProperties: false,
              required: ['embeddingModel'],
              properties: {
                embeddingModel: { type: 'string', minLength: 1 },
                baseURL: { type: 'string', minLength: 1 },
                apiKey: { type: 'string', minLength: 1 },
                threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
                maxEntries: { type: 'integer', minimum: 1 },
                timeoutMs: durationMs(1),
                allowNonDeterministic: { type: 'boolean' },
              },
            },
          },
        },
      ],
    },
    fetch: {},
    shared: { type: 'object' },
    deadlineMs: durationMs(1),
    adaptiveTimeout: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            percentile: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
            multiplier: { type: 'number', exclusiveMinimum: 0 },
            minSamples: { type: 'integer', minimum: 1 },
            minTimeoutMs: durationMs(1),
          },
        },
      ],
    },
    hedge: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            afterPercentile: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
            maxExtraLoad: { type: 'number', minimum: 0, maximum: 1 },
            minSamples: { type: 'integer', minimum: 1 },
          },
        },
      ],
    },
    retry: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            maxRetries: { type: 'integer', minimum: 0, maximum: 10 },
            baseDelayMs: durationMs(1),
            maxDelayMs: durationMs(1),
            maxRetryAfterMs: durationMs(0),
            budgetRatio: { type: 'number', minimum: 0, maximum: 1 },
            budgetMinRetries: { type: 'integer', minimum: 0, maximum: 1000 },
            budgetWindowMs: durationMs(100),
          },
        },
      ],
    },
    rescue: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            afterPercentile: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
            minSamples: { type: 'integer', minimum: 1 },
            maxExtraLoad: { type: 'number', minimum: 0, maximum: 1 },
          },
        },
      ],
    },
    maxConcurrent: { type: 'integer', minimum: 1 },
    truncate: { enum: [false, 'oldest'] },
    acceptTruncated: { type: 'boolean' },
    midStream: { enum: ['error', 'continue'] },
    onRefusal: { enum: ['return', 'fallback'] },
    latencyWindow: { type: 'integer', minimum: 1, maximum: 100_000 },
    logger: { type: 'object' },
    onFallback: {},
    reviewLogSize: { type: 'integer', minimum: 0, maximum: 100_000 },
    budget: {
      type: 'object',
      additionalProperties: false,
      properties: { usdPerHour: { type: 'number', exclusiveMinimum: 0 }, usdPerDay: { type: 'number', exclusiveMinimum: 0 } },
    },
    tenant: {},
    tenantLimits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        requestsPerMinute: { type: 'integer', minimum: 1 },
        tokensPerMinute: { type: 'integer', minimum: 1 },
        usdPerDay: { type: 'number', exclusiveMinimum: 0 },
        perTenant: {},
      },
    },
    exposeHeaders: { type: 'boolean' },
    tracing: { type: 'boolean' },
    maxPromptChars: { type: 'integer', minimum: 1 },
    maxPromptTokens: { type: 'integer', minimum: 1 },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        defaultCooldownMs: durationMs(0),
        maxCooldownMs: durationMs(0),
      },
    },
  },
} as const;
