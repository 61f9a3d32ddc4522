import { createHash } from 'node:crypto';
import type { NormalizedRequest } from '../request/normalize-request';
import { stableStringify } from './stable-stringify';

/**
 * The cache key covers everything that changes an answer: the chain (names and provider ids), messages,
 * temperature, topP, maxTokens, stop, seed, responseFormat, the answer schema, and the tenant scope. An omitted temperature
 * is `null`, not 0 (the API's default is 1). The key is a SHA-256, so no prompt text sits in keys or events.
 */
export function cacheKey(req: NormalizedRequest, scope: string): string {
  const material = stableStringify({
    v: 1,
    scope,
    chain: req.chain.map((m) => `${m.name}\u0000${m.model}`),
    messages: req.messages,
    maxTokens: req.maxTokens ?? null,
    temperature: req.temperature ?? null,
    topP: req.topP ?? null,
    stop: req.stop ?? null,
    seed: req.seed ?? null,
    responseFormat: req.responseFormat ?? null,
    schema: req.schema ?? null,
  });
  return createHash('sha256').update(material).digest('base64url');
}
