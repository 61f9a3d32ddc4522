import type { LlmStatus, ModelStatus } from '../types';
import type { BreakerRegistry } from './breaker/breaker-registry';
import type { ResponseCache } from './cache/response-cache';
import type { FallbackChain } from './fallback/fallback-chain';

/** The `status()` snapshot: every configured model's breaker and cool-down, and the cache's counters. */
export function buildStatus(chain: FallbackChain | null, breakers: BreakerRegistry | null, cache: ResponseCache | null): LlmStatus {
  const names = chain ? chain.models.map((m) => ({ name: m.name, providerModel: m.model })) : [];
  for (const b of breakers?.all() ?? []) {
    if (!names.some((n) => n.name === b.name)) names.push({ name: b.name, providerModel: b.name });
  }
  const models = names.map(({ name, providerModel }): ModelStatus => {
    const breaker = breakers?.peek(name);
    const stats = breaker?.stats() ?? { failures: 0, successes: 0 };
    return {
      name,
      providerModel,
      state: breaker?.state ?? 'closed',
      failures: stats.failures,
      successes: stats.successes,
      halfOpenAt: breaker?.halfOpenAt ?? null,
      cooldownUntil: chain?.cooldowns.until(name) ?? null,
    };
  });
  return { models, cache: cache ? cache.status() : null };
}
