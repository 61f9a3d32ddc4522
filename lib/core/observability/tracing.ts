import { type Attributes, context, ProxyTracerProvider, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { AttemptRecord, LlmEventMap, RequestSummary } from '../../types';
import type { EventBus } from '../events/event-bus';

/**
 * OpenTelemetry traces through `@opentelemetry/api` only (no SDK dependency): a span per `complete`/`stream`
 * and a child span per attempt, with the GenAI semantic-convention attributes plus our resilience ones.
 * Spans are built when the request ends, from exact timings (each attempt's end time and latency). Without a
 * registered tracer provider the API hands out no-op spans.
 */
export function attachTracing(events: EventBus, breakerState: (model: string) => string, tracer: Tracer = trace.getTracer('koa-llm-resilience')): () => void {
  const pending = new Map<string, { record: AttemptRecord; endedAt: number; index: number }[]>();
  const offs = [
    events.on('attempt', (a: LlmEventMap['attempt']) => {
      if (!tracingActive()) return;
      let list = pending.get(a.requestId);
      if (!list) {
        list = [];
        pending.set(a.requestId, list);
      }
      if (list.length < 32) list.push({ record: a, endedAt: Date.now(), index: a.index });
    }),
    events.on('request', (s: RequestSummary) => {
      const list = pending.get(s.requestId) ?? [];
      pending.delete(s.requestId);
      if (!tracingActive()) return;
      const end = Date.now();
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
    }),
  ];
  return () => {
    offs.forEach((off) => off());
    pending.clear();
  };
}

/** Whether a tracer provider is registered: without one, no span is built at all (not even no-op ones). */
function tracingActive(): boolean {
  const provider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return delegate.constructor?.name !== 'NoopTracerProvider';
}
