import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { AttemptRecord, LlmEventMap, RequestSummary } from '../../types';
import type { EventBus } from '../events/event-bus';

/**
 * @opentelemetry/api, loaded when the first engine with tracing starts (not by `require('koa-llm-resilience')`).
 * It is a dependency, not a peer: the API keeps its state on the global object, so a copy of ours finds the
 * tracer provider an app registered through its own copy (same major, a minor no older than ours).
 */
function otelApi(): typeof import('@opentelemetry/api') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@opentelemetry/api') as typeof import('@opentelemetry/api');
}

/**
 * OpenTelemetry traces through `@opentelemetry/api` only (no SDK dependency): a span per `complete`/`stream`
 * and a child span per attempt, with the GenAI semantic-convention attributes plus our resilience ones.
 * Spans are built when the request ends, from exact timings (each attempt's end time and latency). Without a
 * registered tracer provider nothing is built at all.
 */
export function attachTracing(events: EventBus, breakerState: (model: string) => string, tracer: Tracer = otelApi().trace.getTracer('koa-llm-resilience')): () => void {
  const { context, SpanKind, SpanStatusCode, trace } = otelApi();
  const pending = new Map<string, { record: AttemptRecord; endedAt: number; index: number }[]>();
  const tracingActive = tracingCheck();
  // Attempt end times are collected only while a tracer provider is registered: without one, no `attempt`
  // listener exists and the hot path does not even build the event. Checked again at the end of every request
  // (at most once a second, see tracingCheck).
  let offAttempts: (() => void) | null = null;
  const watchAttempts = (on: boolean): void => {
    if (on && !offAttempts) {
      offAttempts = events.on('attempt', (a: LlmEventMap['attempt']) => {
        let list = pending.get(a.requestId);
        if (!list) {
          list = [];
          pending.set(a.requestId, list);
        }
        if (list.length < 32) list.push({ record: a, endedAt: Date.now(), index: a.index });
      });
    } else if (!on && offAttempts) {
      offAttempts();
      offAttempts = null;
      pending.clear();
    }
  };
  watchAttempts(tracingActive());
  // A filtered listener: while no provider is registered, a request gets no summary built for tracing's sake.
  // Asking is also when the `attempt` listener is switched on or off.
  const wanted = (): boolean => {
    const active = tracingActive();
    watchAttempts(active);
    return active;
  };
  const offRequests = events.onRequestWhere(wanted, (s: RequestSummary) => {
    const end = Date.now();
    const list = pending.get(s.requestId) ?? estimatedEnds(s, end);
    pending.delete(s.requestId);
    const attrs: Attributes = {
      'gen_ai.operation.name': 'chat',
      'llm.resilience.request_id': s.requestId,
      'llm.resilience.kind': s.kind,
      'llm.resilience.outcome': s.outcome,
      'llm.resilience.cache_hit': s.cached !== false,
      'llm.resilience.fallback': s.fallback,
      'llm.resilience.hedged': s.hedged,
      'llm.resilience.attempts': s.attempts.length,
    };
    if (s.requestedModel) attrs['gen_ai.request.model'] = s.requestedModel;
    if (s.providerModel) attrs['gen_ai.response.model'] = s.providerModel;
    if (s.usage) {
      attrs['gen_ai.usage.input_tokens'] = s.usage.promptTokens;
      attrs['gen_ai.usage.output_tokens'] = s.usage.completionTokens;
    }
    if (s.finishReason) attrs['gen_ai.response.finish_reasons'] = [s.finishReason];
    if (s.task) attrs['llm.resilience.task'] = s.task;
    const parent: Span = tracer.startSpan(`chat ${s.requestedModel ?? ''}`.trim(), { kind: SpanKind.CLIENT, startTime: end - s.latencyMs, attributes: attrs });
    const ctx = trace.setSpan(context.active(), parent);
    for (const { record, endedAt, index } of list) {
      const child = tracer.startSpan(
        `attempt ${record.model}`,
        {
          kind: SpanKind.CLIENT,
          startTime: endedAt - record.latencyMs,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'llm.resilience.model': record.model,
            'llm.resilience.attempt.index': index,
            'llm.resilience.attempt.outcome': record.outcome,
            'llm.resilience.breaker.state': breakerState(record.model),
            'llm.resilience.hedged': record.hedged === true,
            ...(record.status !== undefined ? { 'http.response.status_code': record.status } : {}),
          },
        },
        ctx,
      );
      if (record.outcome !== 'success') child.setStatus({ code: SpanStatusCode.ERROR, message: record.message ?? record.outcome });
      child.end(endedAt);
    }
    if (s.outcome !== 'success') parent.setStatus({ code: SpanStatusCode.ERROR, message: s.error?.message ?? s.outcome });
    parent.end(end);
  });
  return () => {
    watchAttempts(false);
    offRequests();
  };
}

/** For a request that began before tracing was switched on: attempts laid end to end from the request's start. */
function estimatedEnds(s: RequestSummary, end: number): { record: AttemptRecord; endedAt: number; index: number }[] {
  let t = end - s.latencyMs;
  return s.attempts.map((record, index) => {
    t += record.latencyMs;
    return { record, endedAt: Math.min(t, end), index };
  });
}

/**
 * Whether a tracer provider is registered: without one, no span is built at all (not even no-op ones).
 * Each engine looks it up when it starts and then at most once per second (a provider registered later
 * takes effect within a second).
 */
function tracingCheck(): () => boolean {
  const { ProxyTracerProvider, trace } = otelApi();
  let checkedAt = -Infinity;
  let active = false;
  return () => {
    const now = performance.now();
    if (now - checkedAt < 1000) return active;
    checkedAt = now;
    const provider = trace.getTracerProvider();
    const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
    active = delegate.constructor?.name !== 'NoopTracerProvider';
    return active;
  };
}
