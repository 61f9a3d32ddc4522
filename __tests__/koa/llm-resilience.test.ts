import http from 'node:http';
import Koa from 'koa';
import request from 'supertest';
import { llmResilience } from '../../lib';
import type { FakeLlm } from '../../lib/testing';
import type { CompletionRequest, RequestSummary } from '../../lib/types';
import type { LlmResilienceOptions } from '../../lib/koa/types';
import { listen, sleep, startApp, waitFor, type TestApp, useFakeLlm } from '../helpers/app';

let fake: FakeLlm;
let app: TestApp | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    await app?.close();
    app = undefined;
  },
);

function options(overrides: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions {
  return {
    models: [
      { name: 'smart', model: 'big-model', baseURL: fake.url, apiKey: 'sk-test-secret-123', timeoutMs: 300 },
      { name: 'fast', model: 'small-model', baseURL: fake.url, apiKey: 'sk-test-secret-123', timeoutMs: 300 },
    ],
    breaker: { volumeThreshold: 100, resetTimeoutMs: 60_000 },
    cache: false,
    ...overrides,
  };
}

const ask = (content = 'hello') => ({ messages: [{ role: 'user', content }] });

describe('fallback', () => {
  it('answers from the first model when it is healthy', async () => {
    app = await startApp(options());
    const res = await request(app.server).post('/complete').send(ask('summarize this'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model: 'smart', providerModel: 'big-model', fallback: false, cached: false });
    expect(res.body.text).toContain('summarize this');
    expect(res.body.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
    expect(res.body.usage.totalTokens).toBeGreaterThan(0);
    expect(fake.stats('big-model').requests).toBe(1);
    expect(fake.stats('small-model').requests).toBe(0);
  });

  it.each([
    ['5xx', { mode: 'error', status: 503 }, 'error', 503],
    ['connection reset', { mode: 'reset' }, 'error', undefined],
    ['malformed JSON', { mode: 'malformed' }, 'error', undefined],
    ['empty choices', { mode: 'empty' }, 'invalid', undefined],
    ['429', { mode: 'rate_limit' }, 'rate_limited', 429],
    ['401', { mode: 'error', status: 401 }, 'error', 401],
    ['403', { mode: 'error', status: 403 }, 'error', 403],
  ] as const)('falls back when the first model fails with %s', async (_label, behavior, outcome, status) => {
    fake.setBehavior('big-model', behavior);
    // fallback alone: no same-model retry of the transient failures (5xx, reset)
    app = await startApp(options({ retry: false }));
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model: 'fast', fallback: true });
    expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome });
    if (status !== undefined) expect(res.body.attempts[0].status).toBe(status);
    expect(res.body.attempts[1]).toMatchObject({ model: 'fast', outcome: 'success' });
    // maxRetries: 0 — exactly one request per attempt.
    expect(fake.stats('big-model').requests).toBe(1);
    expect(fake.stats('small-model').requests).toBe(1);
  });

  it('fails fast on a 400 from the provider: no fallback, no breaker failure', async () => {
    fake.setBehavior('big-model', { mode: 'error', status: 400 });
    app = await startApp(options({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      type: 'invalid_request',
      code: 'UPSTREAM_REJECTED_REQUEST',
      message: 'Model "smart" rejected the request as invalid (HTTP 400); no other model was tried',
      details: ['provider rejected the request (400)'],
    });
    expect(JSON.stringify(res.body)).not.toContain('simulated'); // the provider's own words are not copied
    expect(fake.stats('small-model').requests).toBe(0);
    const smart = app.llm.status().models.find((m) => m.name === 'smart');
    expect(smart).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('moves on after a context-length 400 without blaming the model', async () => {
    fake.setBehavior('big-model', { mode: 'context_length' });
    app = await startApp(options({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('fast');
    expect(app.llm.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('answers 503 with Retry-After and a safe body when every model fails', async () => {
    fake.setBehavior('big-model', { mode: 'error', status: 500 });
    fake.setBehavior('small-model', { mode: 'error', status: 401 });
    app = await startApp(options());
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.status).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.body.error).toEqual({
      type: 'all_models_failed',
      message: expect.any(String),
      // the 500 is retried once on the same model; the 401 is not
      attempts: [
        { model: 'smart', outcome: 'error' },
        { model: 'smart', outcome: 'error' },
        { model: 'fast', outcome: 'error' },
      ],
    });
    const raw = JSON.stringify(res.body) + JSON.stringify(res.headers);
    expect(raw).not.toContain('sk-test-secret-123');
    expect(raw).not.toContain('simulated');
    expect(raw).not.toMatch(/at .*\.ts:\d+/);
  });

  it('honours a per-request chain override', async () => {
    app = await startApp(options());
    const res = await request(app.server).post('/complete').send({ ...ask(), models: ['fast'] });
    expect(res.body.model).toBe('fast');
    expect(res.body.fallback).toBe(false);
    expect(fake.stats('big-model').requests).toBe(0);
  });
});

describe('timeouts', () => {
  it('aborts the slow request (the provider sees the connection close) and tries the next model at once', async () => {
    fake.setBehavior('big-model', { latencyMs: 5000 });
    app = await startApp(options({ models: options().models.map((m) => ({ ...m, timeoutMs: m.name === 'smart' ? 100 : 1000 })) }));
    const started = Date.now();
    const res = await request(app.server).post('/complete').send(ask());
    const took = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout' });
    expect(res.body.attempts[0].latencyMs).toBeGreaterThanOrEqual(95);
    expect(took).toBeLessThan(2000);
    await waitFor(() => fake.stats('big-model').aborted === 1);
    expect(fake.stats('big-model')).toMatchObject({ requests: 1, aborted: 1 });
  });

  it('a hanging provider is a timeout, and a per-request timeoutMs overrides the model timeout', async () => {
    fake.setBehavior('big-model', { mode: 'hang' });
    app = await startApp(options());
    const res = await request(app.server).post('/complete').send({ ...ask(), timeoutMs: 50 });
    expect(res.body.attempts[0]).toMatchObject({ outcome: 'timeout' });
    expect(res.body.attempts[0].latencyMs).toBeLessThan(250);
    await waitFor(() => fake.stats('big-model').aborted === 1);
  });
});

describe('circuit breaker per model', () => {
  const breakerOptions = () =>
    options({ breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 200, rollingWindowMs: 10_000 } });

  it('opens after volumeThreshold calls at the error threshold, then skips the model with no network call', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    app = await startApp(breakerOptions());
    const opened: string[] = [];
    app.llm.on('breaker:open', (e) => opened.push(e.model));
    for (let i = 0; i < 4; i++) await request(app.server).post('/complete').send(ask(`q${i}`));
    expect(opened).toEqual(['smart']);
    expect(app.llm.status().models[0]).toMatchObject({ name: 'smart', state: 'open' });
    expect(fake.stats('big-model').requests).toBe(4);

    const res = await request(app.server).post('/complete').send(ask('while open'));
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts[0]).toEqual({ model: 'smart', outcome: 'circuit_open', latencyMs: 0, message: 'circuit open' });
    expect(fake.stats('big-model').requests).toBe(4);
  });

  it('counts each call when it ends: calls still in flight neither dilute the failure rate nor lose their answer when it opens', async () => {
    const slow = options({ breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 60_000, rollingWindowMs: 10_000 } });
    app = await startApp({ ...slow, models: slow.models.map((m) => ({ ...m, timeoutMs: 5000 })), adaptiveTimeout: false });
    fake.setBehavior('big-model', { latencyMs: 1500 });
    const inFlight = [0, 1, 2, 3, 4, 5].map((i) => request(app!.server).post('/complete').send(ask(`slow${i}`)).then((r) => r));
    await waitFor(() => fake.stats('big-model').requests === 6);
    fake.setBehavior('big-model', { mode: 'error' });
    for (let i = 0; i < 4; i++) await request(app.server).post('/complete').send(ask(`fail${i}`));
    // 4 failures out of the 4 calls that have ended: open, though 6 more calls to the model are still in flight
    expect(app.llm.status().models[0]).toMatchObject({ state: 'open', failures: 4, successes: 0 });
    expect(fake.stats('big-model').requests).toBe(10);
    const answers = await Promise.all(inFlight);
    // the calls in flight when it opened still answer their callers from the model they called
    expect(answers.map((r) => [r.status, r.body.model])).toEqual(Array(6).fill([200, 'smart']));
    expect(answers.every((r) => r.body.attempts.length === 1 && r.body.attempts[0].outcome === 'success')).toBe(true);
    expect(app.llm.status().models[0]).toMatchObject({ state: 'open', failures: 4 });
  });

  it('timeouts count as failures', async () => {
    fake.setBehavior('big-model', { mode: 'hang' });
    // the model's own timeout (one a request sets shorter than it is the request's doing, and does not count)
    const o = options({ breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000 } });
    app = await startApp({ ...o, models: o.models.map((m) => ({ ...m, timeoutMs: 30 })) });
    await request(app.server).post('/complete').send(ask('a'));
    await request(app.server).post('/complete').send(ask('b'));
    expect(app.llm.status().models[0].state).toBe('open');
  });

  it('after resetTimeoutMs lets exactly one probe through; success closes it', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    // the probe alone answers its request: no rescue by the next model beside it
    app = await startApp({ ...breakerOptions(), rescue: false });
    const events: string[] = [];
    app.llm.on('breaker:half_open', () => events.push('half_open'));
    app.llm.on('breaker:close', () => events.push('close'));
    for (let i = 0; i < 4; i++) await request(app.server).post('/complete').send(ask(`q${i}`));
    expect(app.llm.status().models[0].state).toBe('open');

    fake.setBehavior('big-model', { latencyMs: 100 });
    await waitFor(() => app!.llm.status().models[0].state === 'half_open', 1000);
    fake.resetRequests();
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => request(app!.server).post('/complete').send(ask(`probe${i}`))));
    const models = results.map((r) => r.body.model).sort();
    expect(models).toEqual(['fast', 'fast', 'fast', 'fast', 'smart']);
    expect(fake.stats('big-model').requests).toBe(1);
    expect(app.llm.status().models[0].state).toBe('closed');
    expect(events).toEqual(['half_open', 'close']);
  });

  it('a failed probe re-opens the breaker', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    app = await startApp(breakerOptions());
    const opened: number[] = [];
    app.llm.on('breaker:open', () => opened.push(Date.now()));
    for (let i = 0; i < 4; i++) await request(app.server).post('/complete').send(ask(`q${i}`));
    await waitFor(() => app!.llm.status().models[0].state === 'half_open', 1000);
    const res = await request(app.server).post('/complete').send(ask('probe'));
    expect(res.body.model).toBe('fast');
    expect(opened).toHaveLength(2);
    expect(app.llm.status().models[0].state).toBe('open');
    expect(app.llm.status().models[0].halfOpenAt).toBeGreaterThan(Date.now());
  });

  it('a probe answered 429 reached a working provider: the breaker closes and the model cools down instead', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    app = await startApp(breakerOptions());
    for (let i = 0; i < 4; i++) await request(app.server).post('/complete').send(ask(`q${i}`));
    await waitFor(() => app!.llm.status().models[0].state === 'half_open', 1000);
    fake.setBehavior('big-model', { mode: 'rate_limit', headers: { 'retry-after-ms': '5000' } });
    const probe = await request(app.server).post('/complete').send(ask('probe'));
    expect(probe.body).toMatchObject({ model: 'fast', attempts: [{ model: 'smart', outcome: 'rate_limited', status: 429 }, { model: 'fast', outcome: 'success' }] });
    const smart = app.llm.status().models[0];
    expect(smart.state).toBe('closed');
    expect(smart.cooldownUntil! - Date.now()).toBeGreaterThan(4000);
    // cooling down: skipped with no call, though the breaker is closed
    fake.resetRequests();
    const next = await request(app.server).post('/complete').send(ask('next'));
    expect(next.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'rate_limited', latencyMs: 0 });
    expect(fake.stats('big-model').requests).toBe(0);
  });

  it('shares breaker state across requests and reports Retry-After from the earliest half-open', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    fake.setBehavior('small-model', { mode: 'error' });
    app = await startApp(
      options({ breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 30_000 } }),
    );
    await request(app.server).post('/complete').send(ask('1'));
    await request(app.server).post('/complete').send(ask('2'));
    expect(app.llm.status().models.map((m) => m.state)).toEqual(['open', 'open']);
    const before = fake.stats().requests;
    const res = await request(app.server).post('/complete').send(ask('3'));
    expect(res.status).toBe(503);
    expect(res.body.error.attempts).toEqual([
      { model: 'smart', outcome: 'circuit_open' },
      { model: 'fast', outcome: 'circuit_open' },
    ]);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(25);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(fake.stats().requests).toBe(before);
  });
});

describe('rate limits', () => {
  it('a 429 puts the model in cool-down for its Retry-After; it is skipped without a call meanwhile', async () => {
    fake.setBehavior('big-model', { mode: 'rate_limit', retryAfterS: 1 });
    // the cool-down alone: no same-model retry after the retry-after
    app = await startApp(options({ retry: false }));
    const first = await request(app.server).post('/complete').send(ask('a'));
    expect(first.body.attempts[0]).toMatchObject({ outcome: 'rate_limited', status: 429 });
    const second = await request(app.server).post('/complete').send(ask('b'));
    expect(second.body.attempts[0]).toMatchObject({ outcome: 'rate_limited', latencyMs: 0 });
    expect(fake.stats('big-model').requests).toBe(1);
    const cooldown = app.llm.status().models[0].cooldownUntil;
    expect(cooldown).toBeGreaterThan(Date.now() + 500);
    expect(app.llm.status().models[0].state).toBe('closed');
  });
});

describe('cache', () => {
  const cached = () => options({ cache: { max: 100, ttlMs: 60_000 } });

  it('serves a repeated request from the cache with zero upstream requests', async () => {
    app = await startApp(cached());
    const a = await request(app.server).post('/complete').send({ ...ask('same'), temperature: 0 });
    const b = await request(app.server).post('/complete').send({ ...ask('same'), temperature: 0 });
    expect(a.body.cached).toBe(false);
    expect(b.body).toMatchObject({ cached: true, text: a.body.text, model: 'smart', attempts: [] });
    expect(fake.stats().requests).toBe(1);
    expect(app.llm.status().cache).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  it.each([
    ['temperature', { temperature: 0.7 }],
    ['topP', { topP: 0.5 }],
    ['maxTokens', { maxTokens: 10 }],
    ['stop', { stop: ['\n'] }],
    ['seed', { seed: 7 }],
    ['responseFormat', { responseFormat: { type: 'text' } }],
    ['chain', { models: ['fast'] }],
  ])('a different %s is a different entry', async (_label, extra) => {
    app = await startApp(cached());
    await request(app.server).post('/complete').send(ask('same'));
    const b = await request(app.server).post('/complete').send({ ...ask('same'), ...extra });
    expect(b.body.cached).toBe(false);
    expect(fake.stats().requests).toBe(2);
  });

  it('never caches a truncated answer (accepted with acceptTruncated) or an error', async () => {
    fake.setBehavior('big-model', { mode: 'truncated' });
    fake.setBehavior('small-model', { mode: 'error' });
    app = await startApp(cached());
    const a = await request(app.server).post('/complete').send({ ...ask('long'), acceptTruncated: true });
    expect(a.body).toMatchObject({ model: 'smart', finishReason: 'length' });
    const b = await request(app.server).post('/complete').send({ ...ask('long'), acceptTruncated: true });
    expect(b.body.cached).toBe(false);
    fake.setBehavior('big-model', { mode: 'error' });
    await request(app.server).post('/complete').send(ask('boom')).expect(503);
    fake.setBehavior('big-model', {});
    const d = await request(app.server).post('/complete').send(ask('boom'));
    expect(d.body.cached).toBe(false);
    expect(app.llm.status().cache?.size).toBe(1);
  });

  it('cache: false on a request bypasses it', async () => {
    app = await startApp(cached());
    await request(app.server).post('/complete').send(ask('x'));
    const b = await request(app.server).post('/complete').send({ ...ask('x'), cache: false });
    expect(b.body.cached).toBe(false);
    expect(fake.stats().requests).toBe(2);
  });

  it('identical requests in flight share one upstream call', async () => {
    fake.setBehavior('big-model', { latencyMs: 100 });
    app = await startApp(cached());
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => request(app!.server).post('/complete').send(ask('popular'))));
    expect(results.every((r) => r.status === 200 && r.body.text === results[0].body.text)).toBe(true);
    expect(results.filter((r) => r.body.coalesced)).toHaveLength(4);
    expect(fake.stats().requests).toBe(1);
  });

  it('a scope function that does not return a string (an async one) is refused with an error, never one shared scope', async () => {
    app = await startApp(options({ cache: { scope: (async (ctx: { get(h: string): string }) => ctx.get('x-tenant')) as never } }));
    const a = await request(app.server).post('/complete').set('x-tenant', 'a').send(ask('q'));
    const b = await request(app.server).post('/complete').set('x-tenant', 'b').send(ask('q'));
    expect([a.status, b.status]).toEqual([500, 500]);
    expect(fake.stats().requests).toBe(0);
    const err = await app.llm.engine.complete({ prompt: 'q' }, { scope: Promise.resolve('a') as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/scope must be a string, but scope\(\) returned a Promise/);
    // a number is its text; none is one scope for all
    expect((await app.llm.engine.complete({ prompt: 'n' }, { scope: 7 as never })).cached).toBe(false);
    expect((await app.llm.engine.complete({ prompt: 'n' }, { scope: '7' })).cached).toBe(true);
  });

  it('two tenants never share an entry (scope)', async () => {
    app = await startApp(options({ cache: { scope: (ctx) => ctx.get('x-tenant') } }));
    await request(app.server).post('/complete').set('x-tenant', 'a').send(ask('q'));
    const b = await request(app.server).post('/complete').set('x-tenant', 'b').send(ask('q'));
    const a2 = await request(app.server).post('/complete').set('x-tenant', 'a').send(ask('q'));
    expect(b.body.cached).toBe(false);
    expect(a2.body.cached).toBe(true);
    expect(fake.stats().requests).toBe(2);
  });
});

describe('client disconnect', () => {
  function abortAfter(url: string, body: unknown, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const req = http.request(`${url}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => resolve());
      req.end(JSON.stringify(body));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, ms);
    });
  }

  it('aborts the upstream call and does not count it against the model', async () => {
    fake.setBehavior('big-model', { latencyMs: 2000 });
    app = await startApp(options({ models: options().models.map((m) => ({ ...m, timeoutMs: 5000 })), breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const attempts: string[] = [];
    app.llm.on('attempt', (a) => attempts.push(`${a.model}:${a.outcome}:${a.message}`));
    const ended: RequestSummary[] = [];
    app.llm.on('request', (s) => ended.push(s));
    await abortAfter(app.url, ask('bye'), 80);
    await waitFor(() => fake.stats('big-model').aborted === 1);
    await sleep(30);
    expect(fake.stats('small-model').requests).toBe(0);
    expect(app.llm.status().models[0]).toMatchObject({ state: 'closed', failures: 0, successes: 0 });
    // the interrupted attempt is still reported (the log has every latency), as cancelled, not as a failure
    expect(attempts).toEqual(['smart:cancelled:the caller went away']);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ outcome: 'aborted', error: { code: 'REQUEST_ABORTED' }, attempts: [{ model: 'smart', outcome: 'cancelled' }] });
    expect(ended[0].attempts[0].latencyMs).toBeGreaterThan(0); // recorded with how long it ran (how long depends on when the server got the request)
  });

  it('a client that leaves during the fallback: the request log has the timeout before it and the cancelled fallback', async () => {
    fake.setBehavior('big-model', { mode: 'hang' });
    fake.setBehavior('small-model', { mode: 'hang' });
    app = await startApp(options({ adaptiveTimeout: false, models: [{ ...options().models[0], timeoutMs: 60 }, { ...options().models[1], timeoutMs: 5000 }] }));
    const ended: RequestSummary[] = [];
    app.llm.on('request', (s) => ended.push(s));
    await abortAfter(app.url, ask('slow day'), 150);
    await waitFor(() => fake.stats('small-model').aborted === 1);
    await waitFor(() => ended.length === 1);
    expect(ended[0]).toMatchObject({ outcome: 'aborted', attempts: [{ model: 'smart', outcome: 'timeout' }, { model: 'fast', outcome: 'cancelled', message: 'the caller went away' }] });
    expect(fake.stats('big-model').aborted).toBe(1);
  });

  it('with the cache on, a leaving client cancels the shared call only when nobody else waits', async () => {
    fake.setBehavior('big-model', { latencyMs: 300 });
    app = await startApp(options({ models: options().models.map((m) => ({ ...m, timeoutMs: 5000 })), cache: {} }));
    const stay = request(app.server).post('/complete').send(ask('shared'));
    const stayDone = stay.then((r) => r);
    await sleep(20);
    await abortAfter(app.url, ask('shared'), 50);
    const res = await stayDone;
    expect(res.status).toBe(200);
    expect(fake.stats('big-model')).toMatchObject({ requests: 1, completed: 1, aborted: 0 });

    const ended: RequestSummary[] = [];
    app.llm.on('request', (s) => ended.push(s));
    await abortAfter(app.url, ask('alone'), 50);
    await waitFor(() => fake.stats('big-model').aborted === 1);
    // the last caller to leave is told how the shared call ended: the attempt it interrupted
    await waitFor(() => ended.length === 1);
    expect(ended[0]).toMatchObject({ outcome: 'aborted', attempts: [{ model: 'smart', outcome: 'cancelled' }] });
  });
});

describe('events', () => {
  it('emits attempt, fallback and cache events, and a throwing listener never breaks a request', async () => {
    fake.setBehavior('big-model', { mode: 'error' });
    app = await startApp(options({ cache: {} }));
    const seen: string[] = [];
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    app.llm.on('attempt', () => {
      throw new Error('listener bug');
    });
    app.llm.on('attempt', (e) => seen.push(`attempt:${e.model}:${e.outcome}:${typeof e.latencyMs}`));
    app.llm.on('fallback', (e) => seen.push(`fallback:${e.from}->${e.to}:${e.reason}`));
    app.llm.on('cache:miss', () => seen.push('miss'));
    app.llm.on('cache:hit', (e) => seen.push(`hit:${typeof e.latencyMs}`));
    const a = await request(app.server).post('/complete').send(ask('e'));
    const b = await request(app.server).post('/complete').send(ask('e'));
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    // (an attempt event for smart's 500 and one for its retry)
    expect(seen).toEqual(['miss', 'attempt:smart:error:number', 'attempt:smart:error:number', 'fallback:smart->fast:error', 'attempt:fast:success:number', 'hit:number']);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });
});

describe('bad requests', () => {
  it('answers 400 naming what is wrong, with no upstream call', async () => {
    app = await startApp(options());
    const res = await request(app.server).post('/complete').send({ messages: [{ role: 'wizard', content: 'x' }], temperature: 9, models: ['nope'] });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request');
    const details = res.body.error.details.join('\n');
    expect(details).toMatch(/\/messages\/0\/role/);
    expect(details).toMatch(/\/temperature/);
    expect(details).toMatch(/unknown model "nope"/);
    expect(fake.stats().requests).toBe(0);
  });

  it('answers 400, not 500, for content nested deeper than a JSON body can be stringified back', async () => {
    app = await startApp(options());
    const depth = 50_000; // JSON.parse takes it; a recursive stringify (the cache key, the SDK's body) overflows
    const body = `{"messages":[{"role":"user","content":${'['.repeat(depth)}"x"${']'.repeat(depth)}}]}`;
    const res = await request(app.server).post('/complete').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.join('\n')).toMatch(/\/messages\/0\/content\/0\/.*nests more than 64 levels deep/);
    expect(fake.stats().requests).toBe(0);
    expect(app.llm.status().models.map((m) => m.failures)).toEqual([0, 0]);
  });
});

describe('ctx.llm', () => {
  it('its functions work detached from it, each bound to its own request', async () => {
    const llm = llmResilience(options());
    const koa = new Koa();
    koa.use(llm);
    koa.use(async (ctx) => {
      const { complete, status } = ctx.llm; // destructured: no `this`
      const content = ctx.get('x-ask');
      const r = await complete(ask(content) as CompletionRequest);
      ctx.body = { text: r.text, model: r.model, models: status().models.length, same: ctx.llm.complete === complete };
    });
    const served = await listen(koa);
    try {
      const [a, b] = await Promise.all([
        request(served.server).post('/').set('x-ask', 'first').send(),
        request(served.server).post('/').set('x-ask', 'second').send(),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body).toMatchObject({ model: 'smart', models: 2, same: true });
      expect(b.body).toMatchObject({ model: 'smart', models: 2, same: true });
      expect(fake.stats('big-model').requests).toBe(2);
      // each request's own prompt reached the provider (the fake echoes it)
      expect(a.body.text).toContain('first');
      expect(b.body.text).toContain('second');
    } finally {
      await llm.close();
      await served.close();
    }
  });
});
