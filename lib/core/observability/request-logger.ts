import type { LlmLogger, RequestSummary } from '../../types';
import type { EventBus } from '../events/event-bus';
import { callIsolated } from '../events/user-callback';
import { redact } from './redact';

const ignore = (): void => undefined;

/**
 * Structured logs on a pino-compatible logger: one line per completed request (request id, task, chain, each
 * attempt's outcome and latency, cache, fallback, tokens, cost; never the prompt or the answer) and one per
 * breaker state change. Everything passes through `redact`. Returns the function that unsubscribes.
 */
export function attachLogger(events: EventBus, logger: LlmLogger): () => void {
  const safe = (level: 'info' | 'warn', obj: Record<string, unknown>, msg: string): void => {
    // a failing logger (or an async one that rejects) never breaks a request
    callIsolated((o: Record<string, unknown>) => logger[level](o, msg), redact(obj), ignore);
  };
  const offs = [
    events.on('request', (s: RequestSummary) => {
      const line = {
        event: 'llm.request',
        requestId: s.requestId,
        kind: s.kind,
        task: s.task,
        chain: s.chain,
        outcome: s.outcome,
        model: s.model,
        attempts: s.attempts.map((a) => ({ model: a.model, outcome: a.outcome, latencyMs: a.latencyMs, ...(a.status ? { status: a.status } : {}), ...(a.message && a.outcome !== 'success' ? { message: a.message } : {}) })),
        cached: s.cached,
        fallback: s.fallback,
        hedged: s.hedged,
        promptTokens: s.usage?.promptTokens,
        completionTokens: s.usage?.completionTokens,
        costUsd: s.usage?.costUsd,
        latencyMs: s.latencyMs,
        promptHash: s.promptHash,
        ...(s.error ? { error: s.error } : {}),
      };
      safe(s.outcome === 'success' ? 'info' : 'warn', line, s.outcome === 'success' ? (s.fallback ? 'llm request answered by a fallback' : 'llm request') : `llm request ${s.outcome}`);
    }),
    events.on('breaker:open', (e) => safe('warn', { event: 'llm.breaker', model: e.model, state: 'open', halfOpenAt: new Date(e.halfOpenAt).toISOString() }, `breaker of ${e.model} opened`)),
    events.on('breaker:half_open', (e) => safe('info', { event: 'llm.breaker', model: e.model, state: 'half_open' }, `breaker of ${e.model} half-open`)),
    events.on('breaker:close', (e) => safe('info', { event: 'llm.breaker', model: e.model, state: 'closed' }, `breaker of ${e.model} closed`)),
  ];
  return () => offs.forEach((off) => off());
}
