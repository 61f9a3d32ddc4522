import type { LlmEngine } from '../core/engine';
import type { LlmStatus, RequestSummary } from '../types';

export interface DashboardSnapshot {
  at: number;
  requests: number;
  fallbackRate: number | null;
  cacheHitRatio: number | null;
  spend: LlmStatus['spend'];
  models: LlmStatus['models'];
  review: ReturnType<LlmEngine['reviewLog']['entries']>;
  /** p50/p95/p99 per model over time (one point per snapshot, at most one a second, the last 10 minutes). */
  history: { t: number; p50: Record<string, number | null>; p95: Record<string, number | null>; p99: Record<string, number | null> }[];
}

const HISTORY = 600;

/**
 * The dashboard's data for one engine: counts its finished requests and fallbacks from now on, and returns the
 * function that makes a snapshot (breakers, cool-downs, latency percentiles and their history, fallback rate,
 * cache hit ratio, spend, the last 50 entries of the review log).
 */
export function dashboardSnapshots(engine: LlmEngine): () => DashboardSnapshot {
  let requests = 0;
  let fallbacks = 0;
  engine.on('request', (s: RequestSummary) => {
    if (s.outcome !== 'success' && s.outcome !== 'failed') return;
    requests++;
    if (s.fallback) fallbacks++;
  });
  const history: DashboardSnapshot['history'] = [];
  return () => {
    const status = engine.status();
    const now = Date.now();
    if (history.length === 0 || now - history[history.length - 1].t >= 1000) {
      const pick = (k: 'p50' | 'p95' | 'p99') => Object.fromEntries(status.models.map((m) => [m.name, m.latency['*']?.[k] ?? null]));
      history.push({ t: now, p50: pick('p50'), p95: pick('p95'), p99: pick('p99') });
      if (history.length > HISTORY) history.shift();
    }
    const c = status.cache;
    return {
      at: now,
      requests,
      fallbackRate: requests ? fallbacks / requests : null,
      cacheHitRatio: c && c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null,
      spend: status.spend,
      models: status.models,
      review: engine.reviewLog.entries().slice(-50),
      history: history.slice(),
    };
  };
}
