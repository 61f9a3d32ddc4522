import type { ValidateFunction } from 'ajv';
import { newAjv } from '../validation/new-ajv';
import type { CachedAnswer } from './response-cache';

/** Version tag of what this version writes to the shared store. */
export const SHARED_ENTRY_VERSION = 1;

/** An answer as the shared store holds it: the version tag, when it expires (epoch ms), the answer. */
export interface SharedEntry {
  klr: typeof SHARED_ENTRY_VERSION;
  e: number;
  a: CachedAnswer;
}

/**
 * Largest value read from the shared store (characters): a longer one is not even parsed. 8 MiB holds any answer
 * a model writes; what another process (or anyone with access to Redis) put there beyond that is not an answer.
 */
export const MAX_SHARED_ENTRY_CHARS = 8 * 1024 * 1024;

const count = { type: 'number', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/**
 * Exactly what `ResponseCache.set` writes, nothing else: every field present with its type, no other field,
 * finite numbers only (`1e999` parses to Infinity), `finishReason` 'stop' (nothing else is cached) and a `json`
 * that is JSON.
 */
const entrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['klr', 'e', 'a'],
  properties: {
    klr: { const: SHARED_ENTRY_VERSION },
    e: count,
    a: {
      type: 'object',
      additionalProperties: false,
      required: ['text', 'model', 'providerModel', 'fallback', 'usage', 'finishReason'],
      properties: {
        text: { type: 'string' },
        model: { type: 'string', minLength: 1, maxLength: 200 },
        providerModel: { type: 'string', maxLength: 1000 },
        fallback: { type: 'boolean' },
        usage: {
          type: 'object',
          additionalProperties: false,
          required: ['promptTokens', 'completionTokens', 'totalTokens'],
          properties: { promptTokens: count, completionTokens: count, totalTokens: count, costUsd: count },
        },
        finishReason: { const: 'stop' },
        json: { $ref: '#/$defs/json' },
      },
    },
  },
  $defs: {
    json: {
      anyOf: [
        { type: 'null' },
        { type: 'boolean' },
        { type: 'string' },
        { type: 'number', minimum: -Number.MAX_VALUE, maximum: Number.MAX_VALUE },
        { type: 'array', items: { $ref: '#/$defs/json' } },
        { type: 'object', additionalProperties: { $ref: '#/$defs/json' } },
      ],
    },
  },
} as const;

let validator: ValidateFunction<SharedEntry> | undefined;

/** The validator, compiled once, when the first value is read from a shared store (not at `require` time). */
function validEntry(value: unknown): value is SharedEntry {
  validator ??= newAjv({ strict: true, allErrors: false }).compile<SharedEntry>(entrySchema);
  return validator(value);
}

/**
 * A value read from the shared store, parsed and checked against everything this version writes, with a model
 * configured in this app (`models`; any name when the cache does not know them) and an expiry still ahead.
 * Anything else is undefined: the caller treats it as a miss and deletes it.
 */
export function parseSharedEntry(raw: string, models: ReadonlySet<string> | null, now: number): SharedEntry | undefined {
  if (raw.length > MAX_SHARED_ENTRY_CHARS) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    if (!validEntry(v)) return undefined;
    if (models !== null && !models.has(v.a.model)) return undefined;
    return v.e > now ? v : undefined;
  } catch {
    // does not parse, or nested too deep to check
    return undefined;
  }
}
