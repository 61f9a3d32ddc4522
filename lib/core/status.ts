import type { LlmStatus, ModelStatus } from '../types';
import type { BreakerRegistry } from './breaker/breaker-registry';
import type { ResponseCache } from './cache/response-cache';
import type { FallbackChain } from './fallback/fallback-chain';
import type { ResolvedModel } from './options/resolve-options';
import type { SharedStore, SharedStoreHealth } from './shared/shared-store';
import { attemptTimeout } from './latency/adaptive-timeout';

/** The `status()` snapshot: every configured model's breaker and cool-down, and the cache's counters. */
export function buildStatus(
  chain: FallbackChain | null,
  breakers: BreakerRegistry | null,
  cache: ResponseCache | null,
  shared: SharedStore | null = null,
): LlmStatus {
  const names: { name: string; providerModel: string; model?: ResolvedModel }[] = chain
    ? chain.models.map((m) => ({ name: m.name, providerModel: m.model, model: m }))
    : [];
  for (const b of breakers?.all() ?? []) {
    if (!names.some((n) => n.name === b.name)) names.push({ name: b.name, providerModel: b.name });
  }
  const models = names.map(({ name, providerModel, model }): ModelStatus => {
    const breaker = breakers?.peek(name);
    const stats = breaker?.stats() ?? { failures: 0, successes: 0 };
    return {
      name,
      providerModel,
      ...(model?.deployment ? { group: model.deployment.group, deployment: model.deployment.name } : {}),
      state: breaker?.state ?? 'closed',
      failures: stats.failures,
      successes: stats.successes,
      halfOpenAt: breaker?.halfOpenAt ?? null,
      cooldownUntil: chain?.cooldowns.until(name) ?? null,
      inFlight: chain?.inFlight(name) ?? 0,
      latency: chain?.latency.stats(name) ?? {},
      timeoutMs: chain && model ? attemptTimeout(model, undefined, undefined, chain.adaptive, chain.latency) : 0,
      spend: chain ? chain.spend.totals(name) : { requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 },
    };
  });
  const stores = [...new Set([shared, cache?.store ?? null].filter((x): x is SharedStore => x !== null))];
  const budget = chain?.spend.budget;
  const spend = {
    lastHourUsd: chain ? round6(chain.spend.spentOver(60)) : 0,
    lastDayUsd: chain ? round6(chain.spend.spentOver(24 * 60)) : 0,
    usdPerHour: budget?.usdPerHour ?? null,
    usdPerDay: budget?.usdPerDay ?? null,
    inFlightUsd: chain ? round6(chain.spend.inFlightUsd) : 0,
  };
  return { models, cache: cache ? cache.status() : null, shared: stores.length ? combinedHealth(stores) : null, spend };
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Down when any store is down; failures added up. */
function combinedHealth(stores: SharedStore[]): SharedStoreHealth {
  const hs = stores.map((s) => s.health());
  const down = hs.find((h) => h.status === 'down');
  return { status: down ? 'down' : 'ok', failures: hs.reduce((n, h) => n + h.failures, 0), lastError: down?.lastError ?? hs.find((h) => h.lastError)?.lastError ?? null };
}
