/** Logs (redacted), the fallback review log, cost and budgets, headers, Prometheus metrics, OpenTelemetry spans. */
import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import pino from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { createEngine, type FallbackReviewEntry, redact, registerMetrics } from '../../../lib';
import type { FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, RequestSummary } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { startApp, type TestApp, useFakeLlm, watchProcess } from '../../helpers/app';

const KEY = 'sk-live-SUPERSECRET-0123456789';
let fake: FakeLlm;
let app: TestApp | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    await app?.close();
    app = undefined;
  },
);
const opts = (extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions => ({
  models: [
    { name: 'smart', model: 'big', baseURL: fake.url, apiKey: KEY, price: { inputPerMTok: 5, outputPerMTok: 15 } },
    { name: 'fast', model: 'small', baseURL: fake.url, apiKey: KEY, price: { inputPerMTok: 0.15, outputPerMTok: 0.6 } },
  ],
  cache: false,
  breaker: { volumeThreshold: 2, errorThresholdPercentage: 50 },
  // logs, headers, metrics and spans counted per request: one attempt per model (no same-model retry)
  retry: false,
  ...extra,
});
let n = 0;
const ask = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content: `question ${++n}` }], ...extra });

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, raw: () => raw };
}

describe('logs', () => {
  it('one structured line per request and per breaker change, through a real pino logger, with secrets redacted', async () => {
    const { logger, lines, raw } = captureLogger();
    fake.setBehavior('big', { mode: 'error' });
    app = await startApp(opts({ logger }));
    await request(app.server).post('/complete').send(ask({ task: `summarize ${KEY}` }));
    await request(app.server).post('/complete').send(ask({ task: 'summarize' }));
    const reqs = lines.filter((l) => l.event === 'llm.request');
    expect(reqs).toHaveLength(2);
    expect(reqs[0]).toMatchObject({
      level: 30,
      outcome: 'success',
      model: 'fast',
      fallback: true,
      cached: false,
      chain: ['smart', 'fast'],
      attempts: [
        { model: 'smart', outcome: 'error', status: 500 },
        { model: 'fast', outcome: 'success' },
      ],
      msg: 'llm request answered by a fallback',
    });
    expect(reqs[0].requestId).toEqual(expect.any(String));
    expect(reqs[0].promptTokens).toBeGreaterThan(0);
    expect(reqs[0].costUsd).toBeGreaterThan(0);
    expect(lines.filter((l) => l.event === 'llm.breaker')).toEqual([expect.objectContaining({ model: 'smart', state: 'open', level: 40 })]);
    expect(raw()).not.toContain('SUPERSECRET');
    expect(raw()).not.toContain('question'); // no prompt text in logs
  });

  it('redact() hides keys in any form', () => {
    const out = JSON.stringify(
      redact({
        apiKey: 'anything',
        headers: { Authorization: 'Bearer abc.def', 'x-api-key': 'k', accessToken: 'k2' },
        usage: { promptTokens: 12 },
        url: 'https://api.example.com/v1?key=AIzaSECRET&x=1',
        redis: 'redis://user:hunter2@host:6379',
        note: `the key was ${KEY} and Bearer tok_123`,
      }),
    );
    for (const secret of ['anything', 'abc.def', 'AIzaSECRET', 'hunter2', 'SUPERSECRET', 'tok_123']) expect(out).not.toContain(secret);
    expect(out).toContain('x=1');
    expect(out).toContain('"promptTokens":12');
  });
});

describe('fallback review log', () => {
  it('keeps fallback and invalid answers in a bounded ring buffer and hands them to onFallback', async () => {
    const seen: FallbackReviewEntry[] = [];
    fake.setBehavior('big', { mode: 'truncated' });
    const engine = createEngine({ ...opts({ reviewLogSize: 2, onFallback: (e) => seen.push(e) }), breaker: { volumeThreshold: 100 } });
    for (let i = 0; i < 3; i++) await engine.complete(ask({ task: 'review' }));
    await engine.complete(ask({ models: ['fast'] })); // not a fallback: not logged
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({
      task: 'review',
      reason: 'fallback',
      answeredBy: 'fast',
      modelsTried: [
        { model: 'smart', outcome: 'invalid', message: expect.stringMatching(/token limit/) },
        { model: 'fast', outcome: 'success' },
      ],
      answer: expect.stringMatching(/^small answer/),
    });
    expect(seen[0].promptHash).toMatch(/^[0-9a-f]{16}$/);
    expect(engine.reviewLog.entries().map((e) => e.requestId)).toEqual(seen.slice(1).map((e) => e.requestId));
    await engine.close();
  });
});

describe('request events', () => {
  it('carry every summary field, and the prompt hash both when read and when serialised', async () => {
    const engine = createEngine(opts());
    const seen: RequestSummary[] = [];
    engine.on('request', (s) => seen.push(s));
    await engine.complete(ask({ task: 'summaries' }));
    await expect(engine.complete({ messages: [] as never })).rejects.toMatchObject({ code: 'REQUEST_INVALID' });
    await engine.close();
    expect(seen).toHaveLength(2);
    const [ok, bad] = seen;
    expect(ok).toMatchObject({ kind: 'complete', outcome: 'success', task: 'summaries', chain: ['smart', 'fast'], model: 'smart', requestedModel: 'big', fallback: false });
    expect(ok.promptHash).toMatch(/^[0-9a-f]{16}$/);
    const json = JSON.parse(JSON.stringify(ok)) as RequestSummary;
    expect(json.promptHash).toBe(ok.promptHash);
    expect(json).toMatchObject({ requestId: ok.requestId, outcome: 'success', text: ok.text, usage: ok.usage });
    expect(bad).toMatchObject({ outcome: 'rejected', model: null, error: { code: 'REQUEST_INVALID' } });
    expect(bad.promptHash).not.toBe(ok.promptHash);
  });
});

describe('cost and usage', () => {
  it('reports usage.costUsd per request and totals per model in status()', async () => {
    const engine = createEngine(opts());
    const r = await engine.complete(ask());
    expect(r.usage.costUsd).toBeCloseTo((r.usage.promptTokens * 5 + r.usage.completionTokens * 15) / 1e6, 12);
    const s = engine.status();
    expect(s.models[0].spend).toMatchObject({ requests: 1, promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens });
    expect(s.models[0].spend.costUsd).toBeCloseTo(r.usage.costUsd!, 12);
    expect(s.spend.lastHourUsd).toBeGreaterThan(0);
    await engine.close();
  });

  it('counts tokens when the provider reports no usage', async () => {
    fake.setBehavior('big', { omitUsage: true, text: 'four words right here' });
    const engine = createEngine(opts());
    const r = await engine.complete(ask());
    expect(r.usage.completionTokens).toBe(4);
    expect(r.usage.promptTokens).toBeGreaterThan(3);
    await engine.close();
  });

  it('skips to cheaper models when the budget would be exceeded, and honours maxCostUsd per request', async () => {
    const engine = createEngine(opts({ budget: { usdPerHour: 0.0004 } }));
    const first = await engine.complete(ask({ maxTokens: 10 }));
    expect(first.model).toBe('smart');
    let r = first;
    for (let i = 0; i < 5 && r.model === 'smart'; i++) r = await engine.complete(ask({ maxTokens: 10 }));
    expect(r.model).toBe('fast');
    expect(r.attempts[0]).toMatchObject({ model: 'smart', outcome: 'over_budget', latencyMs: 0, message: expect.stringMatching(/hourly budget/) });
    expect(engine.status().spend.usdPerHour).toBe(0.0004);
    await engine.close();
    const unbudgeted = createEngine(opts());
    const cheap = await unbudgeted.complete(ask({ maxTokens: 1000, maxCostUsd: 0.001 }));
    expect(cheap.attempts[0]).toMatchObject({ model: 'smart', outcome: 'over_budget', message: expect.stringMatching(/maxCostUsd/) });
    expect(cheap.model).toBe('fast');
    await unbudgeted.close();
  });

  it('holds the budget under a burst: calls in flight count against it with their estimate until they end', async () => {
    fake.setBehavior('big', { latencyMs: 80 });
    // a smart call of this size is estimated at about $0.0002 (a few prompt tokens × $5/M + 10 × $15/M): the hourly
    // budget leaves room for 3 or 4 of them in flight at once, not for the 12 a burst asks for
    const engine = createEngine(opts({ budget: { usdPerHour: 0.0007 } }));
    const burst = await Promise.all(Array.from({ length: 12 }, () => engine.complete(ask({ maxTokens: 10 }))));
    const bySmart = burst.filter((r) => r.model === 'smart');
    expect(bySmart.length).toBeGreaterThanOrEqual(1);
    expect(bySmart.length).toBeLessThanOrEqual(4);
    expect(fake.stats('big').requests).toBe(bySmart.length);
    // what was spent stays within the budget
    expect(engine.status().spend.lastHourUsd).toBeLessThanOrEqual(0.0007);
    for (const r of burst.filter((x) => x.model === 'fast')) {
      expect(r.attempts[0]).toMatchObject({ model: 'smart', outcome: 'over_budget', message: expect.stringMatching(/hourly budget/) });
    }
    // once they have ended, only what they really cost is counted: nothing stays reserved
    expect(engine.status().spend.inFlightUsd).toBe(0);
    await engine.close();

    // streams reserve the same way
    const streaming = createEngine(opts({ budget: { usdPerHour: 0.0007 } }));
    const streamed = await Promise.all(Array.from({ length: 12 }, () => streaming.stream(ask({ maxTokens: 10 })).final()));
    const streamedBySmart = streamed.filter((r) => r.model === 'smart').length;
    expect(streamedBySmart).toBeGreaterThanOrEqual(1);
    expect(streamedBySmart).toBeLessThanOrEqual(4);
    expect(fake.stats('big').requests).toBe(bySmart.length + streamedBySmart);
    expect(streaming.status().spend).toMatchObject({ inFlightUsd: 0 });
    expect(streaming.status().spend.lastHourUsd).toBeLessThanOrEqual(0.0007);
    await streaming.close();
  });

  it('async listeners, onFallback and logger that reject are isolated: no unhandled rejection, one warning each', async () => {
    const watch = watchProcess();
    try {
      fake.setBehavior('big', { mode: 'error' });
      const persisted: string[] = [];
      const engine = createEngine(
        opts({
          // an app persisting the review log to a database that is down
          onFallback: async (entry) => {
            persisted.push(entry.requestId);
            throw new Error('database unavailable');
          },
          logger: { info: async () => Promise.reject(new Error('log shipper down')), warn: () => undefined },
        }),
      );
      engine.on('fallback', async () => {
        throw new Error('metrics backend down');
      });
      const first = await engine.complete(ask());
      const second = await engine.complete(ask());
      expect([first.model, second.model]).toEqual(['fast', 'fast']);
      await new Promise((r) => setTimeout(r, 50)); // rejections are reported after a turn
      expect(watch.unhandled).toEqual([]);
      expect(persisted).toHaveLength(2);
      const warnings = watch.warnings;
      expect(warnings.filter((w) => /onFallback threw \(database unavailable\)/.test(w))).toHaveLength(1);
      expect(warnings.filter((w) => /"fallback" listener threw \(metrics backend down\)/.test(w))).toHaveLength(1);
      await engine.close();
    } finally {
      watch.stop();
    }
  });

  it('exposes x-llm-* headers when asked', async () => {
    fake.setBehavior('big', { mode: 'error' });
    app = await startApp(opts({ exposeHeaders: true }));
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.headers).toMatchObject({ 'x-llm-model': 'fast', 'x-llm-fallback': 'true', 'x-llm-cache': 'miss', 'x-llm-attempts': '2' });
  });
});

describe('Prometheus metrics', () => {
  it('counts requests, attempts, fallbacks, tokens and cost, and reports breaker state, with bounded labels', async () => {
    fake.setBehavior('big', { mode: 'error' });
    app = await startApp(opts({ cache: {} }));
    const registry = new Registry();
    registerMetrics(registry, app.llm);
    const q = ask({ task: 'summarize' });
    await request(app.server).post('/complete').send(q);
    await request(app.server).post('/complete').send(ask({ task: 'summarize' }));
    await request(app.server).post('/complete').send(q); // cache hit
    const text = await registry.metrics();
    const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').pop());
    expect(value('llm_requests_total{outcome="success",model="fast",cached="false"}')).toBe(2);
    expect(value('llm_requests_total{outcome="success",model="fast",cached="true"}')).toBe(1);
    expect(value('llm_attempts_total{model="smart",outcome="error"}')).toBe(2);
    expect(value('llm_fallbacks_total{from="smart",to="fast",reason="error"}')).toBe(2);
    expect(value('llm_breaker_state{model="smart"}')).toBe(2);
    expect(value('llm_breaker_state{model="fast"}')).toBe(0);
    expect(value('llm_attempt_duration_seconds_count{model="fast",task="summarize",outcome="success"}')).toBe(2);
    expect(value('llm_tokens_total{model="fast",kind="completion"}')).toBeGreaterThan(0);
    expect(value('llm_cost_usd_total{model="fast"}')).toBeGreaterThan(0);
    expect(value('llm_cache_lookups_total{result="hit"}')).toBe(1);
    expect(value('llm_cache_entries')).toBe(2);
    expect(text).not.toContain('question'); // no prompt text in labels
  });
});

describe('OpenTelemetry traces', () => {
  const exporter = new InMemorySpanExporter();
  beforeAll(() => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('exports a span per request and a child span per attempt, with GenAI and resilience attributes', async () => {
    exporter.reset();
    fake.setBehavior('big', { mode: 'error' });
    const engine = createEngine(opts());
    await engine.complete(ask({ task: 'traced' }));
    await engine.close();
    const spans = exporter.getFinishedSpans();
    const parent = spans.find((s) => s.name === 'chat big');
    expect(parent).toBeDefined();
    expect(parent!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'big',
      'gen_ai.response.model': 'small',
      'gen_ai.response.finish_reasons': ['stop'],
      'llm.resilience.fallback': true,
      'llm.resilience.cache_hit': false,
      'llm.resilience.hedged': false,
      'llm.resilience.task': 'traced',
    });
    expect(parent!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(parent!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    const children = spans.filter((s) => s.parentSpanContext?.spanId === parent!.spanContext().spanId);
    expect(children.map((c) => [c.name, c.attributes['llm.resilience.attempt.index'], c.attributes['llm.resilience.attempt.outcome']])).toEqual([
      ['attempt smart', 0, 'error'],
      ['attempt fast', 1, 'success'],
    ]);
    expect(children[0].attributes['http.response.status_code']).toBe(500);
    expect(children[0].attributes['llm.resilience.breaker.state']).toBe('closed');
  });
});

describe('OpenTelemetry traces, provider registered after start', () => {
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('builds nothing without a provider, and spans (with attempt children) within a second of one appearing', async () => {
    const exporter = new InMemorySpanExporter();
    fake.setBehavior('big', { mode: 'error' });
    // every request tries 'smart' first: neither the window nor a run of failures opens its breaker
    const engine = createEngine(opts({ breaker: { volumeThreshold: 100, consecutiveFailures: 0 } }));
    await engine.complete(ask());
    // registered after the engine started: taken up at the engine's next look (at most a second later)
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    await engine.complete(ask());
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1050));
    await engine.complete(ask()); // its attempts were not watched: laid end to end from the request's start
    await engine.complete(ask()); // watched
    await engine.close();
    const spans = exporter.getFinishedSpans();
    const parents = spans.filter((s) => s.name === 'chat big');
    expect(parents).toHaveLength(2);
    for (const parent of parents) {
      const children = spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
      expect(children.map((c) => [c.name, c.attributes['llm.resilience.attempt.outcome']])).toEqual([
        ['attempt smart', 'error'],
        ['attempt fast', 'success'],
      ]);
      // children lie within their parent
      for (const c of children) {
        expect(hrMs(c.startTime)).toBeGreaterThanOrEqual(hrMs(parent.startTime) - 1);
        expect(hrMs(c.endTime)).toBeLessThanOrEqual(hrMs(parent.endTime) + 1);
      }
    }
  });
});

const hrMs = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;
