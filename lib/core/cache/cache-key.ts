import { createHash } from 'node:crypto';
import type { NormalizedRequest } from '../request/normalize-request';
import { stableStringify } from './stable-stringify';

/**
 * The cache key covers everything that changes an answer: the chain (names and provider ids), messages,
 * temperature, topP, maxTokens, stop, seed, responseFormat, the answer schema, and the tenant scope. An omitted temperature
 * is `null`, not 0 (the API's default is 1). The key is a SHA-256, so no prompt text sits in keys or events.
 */
export function cacheKey(req: NormalizedRequest, scope: string): string {
  return hashOf({ v: 1, scope, messages: req.messages, ...answerParameters(req) });
}

/** Everything but the messages that changes an answer (shared with the semantic cache's partitions). */
export function answerParameters(req: NormalizedRequest): Record<string, unknown> {
  return {
    chain: req.chain.map((m) => `${m.name}\u0000${m.model}`),
    maxTokens: req.maxTokens ?? null,
    temperature: req.temperature ?? null,
    topP: req.topP ?? null,
    stop: req.stop ?? null,
    seed: req.seed ?? null,
    responseFormat: req.responseFormat ?? null,
    schema: req.schema ?? null,
  };
}

/** SHA-256 (base64url) of the stable JSON of `value`. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('base64url');
}
