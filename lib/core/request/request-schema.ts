import { MAX_TIMER_MS } from '../timer-delay';

/** JSON schema of a `complete()` request (the `signal` is checked separately). */
export const requestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
          content: { type: ['string', 'array', 'null'] },
          name: { type: 'string' },
        },
        // Only an assistant message (one with tool calls) or a legacy function result may go without text.
        if: { properties: { role: { enum: ['system', 'developer', 'user', 'tool'] } } },
        then: { required: ['content'], properties: { content: { type: ['string', 'array'] } } },
      },
    },
    prompt: { type: 'string', minLength: 1 },
    maxTokens: { type: 'integer', minimum: 1 },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    topP: { type: 'number', minimum: 0, maximum: 1 },
    stop: {
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' }, maxItems: 4 },
      ],
    },
    seed: { type: 'integer' },
    responseFormat: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: ['text', 'json_object', 'json_schema'] } },
    },
    models: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    // durations: at most the longest delay a Node timer takes (a longer one would fire after 1 ms)
    timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS },
    cache: { type: 'boolean' },
    signal: {},
    task: { type: 'string', minLength: 1, maxLength: 100 },
    deadlineMs: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS },
    schema: { type: 'object' },
    validate: {},
    truncate: { enum: [false, 'oldest'] },
    acceptTruncated: { type: 'boolean' },
    midStream: { enum: ['error', 'continue'] },
    semanticCache: { type: 'boolean' },
    maxCostUsd: { type: 'number', exclusiveMinimum: 0 },
    tools: {
      type: 'array',
      maxItems: 128,
      items: {
        type: 'object',
        required: ['type', 'function'],
        additionalProperties: false,
        properties: {
          type: { const: 'function' },
          function: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              // OpenAI's rule for a function's name
              name: { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,64}$' },
              description: { type: 'string' },
              parameters: { type: 'object' },
              strict: { type: ['boolean', 'null'] },
            },
          },
        },
      },
    },
    toolChoice: {
      anyOf: [
        { enum: ['auto', 'none', 'required'] },
        {
          type: 'object',
          required: ['type', 'function'],
          additionalProperties: false,
          properties: {
            type: { const: 'function' },
            function: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 } } },
          },
        },
      ],
    },
    parallelToolCalls: { type: 'boolean' },
    onRefusal: { enum: ['return', 'fallback'] },
    providerOptions: { type: 'object', additionalProperties: { type: 'object' } },
  },
} as const;
