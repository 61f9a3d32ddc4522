import type { Registry } from 'prom-client';
import type { EventBus } from '../core/events/event-bus';
import { loadOptional, OPTIONAL_PACKAGES } from '../core/load-optional';
import type { LlmStatus, RequestSummary } from '../types';

/** Something with the engine's events and status: `llmResilience()`'s middleware or an `LlmEngine`. */
export interface Observable {
  on: EventBus['on'];
  status(): LlmStatus;
}

/**
 * prom-client (an optional peer dependency), loaded when metrics are first registered: loading it takes about
 * 60 ms, which an app without metrics would otherwise pay at every start. Missing: a `MissingPackageError`.
 */
export function promClient(): typeof import('prom-client') {
  return loadOptional<typeof import('prom-client')>(OPTIONAL_PACKAGES.promClient);
}

const MAX_TASKS = 50;
const STATE: Record<string, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * Registers Prometheus metrics for `llm` on `registry` (prom-client). Label values are bounded: configured
 * model names, outcome enums, and at most 50 task labels (then `other`); never prompt text or user ids.
 * Returns the function that unsubscribes.
 */
export function registerMetrics(registry: Registry, llm: Observable): () => void {
  const tasks = new Set<string>();
  const task = (t: string | undefined): string => {
    if (t === undefined) return '';
    if (tasks.has(t)) return t;
    if (tasks.size >= MAX_TASKS) return 'other';
    tasks.add(t);
    return t;
  };
  const { Counter, Gauge, Histogram } = promClient();
  const registers = [registry];
  const requests = new Counter({ name: 'llm_requests_total', help: 'Completed LLM requests by outcome and answering model', labelNames: ['outcome', 'model', 'cached'], registers });
  const attempts = new Counter({ name: 'llm_attempts_total', help: 'Attempts by model and outcome', labelNames: ['model', 'outcome'], registers });
  const latency = new Histogram({
    name: 'llm_attempt_duration_seconds',
    help: 'Duration of attempts that reached a provider, by model and task',
    labelNames: ['model', 'task', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const fallbacks = new Counter({ name: 'llm_fallbacks_total', help: 'Moves from one model to the next', labelNames: ['from', 'to', 'reason'], registers });
  const hedges = new Counter({ name: 'llm_hedges_total', help: 'Hedged requests started', labelNames: ['from', 'to'], registers });
  const retries = new Counter({ name: 'llm_retries_total', help: 'Same-model retries started, by model and the outcome retried', labelNames: ['model', 'reason'], registers });
  const rescues = new Counter({ name: 'llm_rescues_total', help: 'Rescues started beside a slow attempt, by kind (probe or slow)', labelNames: ['from', 'to', 'kind'], registers });
  const tokens = new Counter({ name: 'llm_tokens_total', help: 'Tokens of answers, by model and kind', labelNames: ['model', 'kind'], registers });
  const cost = new Counter({ name: 'llm_cost_usd_total', help: 'Cost of answers in USD, by model', labelNames: ['model'], registers });
  const cacheEvents = new Counter({ name: 'llm_cache_lookups_total', help: 'Cache lookups by result', labelNames: ['result'], registers });
  const cooldowns = new Counter({ name: 'llm_cooldowns_total', help: '429 cool-downs started, by model', labelNames: ['model'], registers });
  // by limit only: a tenant's key is neither a bounded label nor always safe to show
  const tenantLimited = new Counter({ name: 'llm_tenant_limited_total', help: 'Requests refused by a tenant limit (429), by limit', labelNames: ['limit'], registers });
  new Gauge({
    name: 'llm_breaker_state',
    help: 'Breaker state per model: 0 closed, 1 half-open, 2 open',
    labelNames: ['model'],
    registers,
    collect() {
      for (const m of llm.status().models) this.set({ model: m.name }, STATE[m.state]);
    },
  });
  new Gauge({
    name: 'llm_cooldown_remaining_seconds',
    help: 'Seconds left of a 429 cool-down per model (0: none)',
    labelNames: ['model'],
    registers,
    collect() {
      const now = Date.now();
      for (const m of llm.status().models) this.set({ model: m.name }, m.cooldownUntil ? Math.max(0, (m.cooldownUntil - now) / 1000) : 0);
    },
  });
  new Gauge({
    name: 'llm_cache_entries',
    help: 'Entries in the in-process cache',
    registers,
    collect() {
      this.set(llm.status().cache?.size ?? 0);
    },
  });
  const offs = [
    llm.on('request', (s: RequestSummary) => {
      requests.inc({ outcome: s.outcome, model: s.model ?? '', cached: String(s.cached) });
      for (const a of s.attempts) {
        attempts.inc({ model: a.model, outcome: a.outcome });
        if (a.latencyMs > 0) latency.observe({ model: a.model, task: task(s.task), outcome: a.outcome }, a.latencyMs / 1000);
      }
      if (s.usage && !s.cached && s.model) {
        tokens.inc({ model: s.model, kind: 'prompt' }, s.usage.promptTokens);
        tokens.inc({ model: s.model, kind: 'completion' }, s.usage.completionTokens);
        if (s.usage.costUsd) cost.inc({ model: s.model }, s.usage.costUsd);
      }
    }),
    llm.on('fallback', (f) => fallbacks.inc({ from: f.from, to: f.to, reason: f.reason })),
    llm.on('hedge', (h) => hedges.inc({ from: h.from, to: h.to })),
    llm.on('retry', (r) => retries.inc({ model: r.model, reason: r.reason })),
    llm.on('rescue', (r) => rescues.inc({ from: r.from, to: r.to, kind: r.probe ? 'probe' : 'slow' })),
    llm.on('cache:hit', () => cacheEvents.inc({ result: 'hit' })),
    llm.on('cache:miss', () => cacheEvents.inc({ result: 'miss' })),
    llm.on('cooldown', (c) => cooldowns.inc({ model: c.model })),
    llm.on('tenant:limited', (t) => tenantLimited.inc({ limit: t.limit })),
  ];
  return () => offs.forEach((off) => off());
}
