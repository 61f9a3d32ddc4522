/** Smarter failover over real HTTP: deadlines, adaptive timeouts, hedging, 429 cool-downs, context windows, bad answers, bulkhead. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { FakeLlm } from '../../../lib/testing';
import type { ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { sleep, startApp, waitFor, type TestApp, useFakeLlm } from '../../helpers/app';

let fake: FakeLlm;
let app: TestApp | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    await app?.close();
    app = undefined;
  },
);

const smart = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, ...extra });
const fast = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, ...extra });
const opts = (extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions => ({
  models: [smart(), fast()],
  cache: false,
  breaker: { volumeThreshold: 1000 },
  ...extra,
});
const post = (body: Record<string, unknown>) => request(app!.server).post('/complete').send(body);
let n = 0;
const ask = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content: `question ${++n}` }], ...extra });

describe('deadline for the whole chain', () => {
  it('bounds the whole call, not each attempt: the chain stops at the deadline with the attempts so far', async () => {
    fake.setBehavior('big', { mode: 'hang' });
    fake.setBehavior('small', { mode: 'hang' });
    app = await startApp(opts({ deadlineMs: 150 }));
    const t0 = Date.now();
    const res = await post(ask());
    const took = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(450);
    expect(res.body.error.attempts).toEqual([{ model: 'smart', outcome: 'timeout' }]);
    expect(fake.stats('small').requests).toBe(0);
    await waitFor(() => fake.stats('big').aborted === 1);
  });

  it('gives the next model only the time that is left, and a request can set its own deadline', async () => {
    fake.setBehavior('big', { mode: 'error', latencyMs: 60 });
    fake.setBehavior('small', { mode: 'hang' });
    // the deadline's split alone: no same-model retry of the 500 before the next model
    app = await startApp(opts({ deadlineMs: 10_000, retry: false }));
    const t0 = Date.now();
    const res = await post(ask({ deadlineMs: 200 }));
    expect(res.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(res.body.error.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['error', 'timeout']);
    await waitFor(() => fake.stats('small').aborted === 1);
  });
  it('holds with the cache on: an identical request in flight without a deadline is not waited for past it', async () => {
    fake.setBehavior('big', { latencyMs: 600 });
    app = await startApp(opts({ cache: {} }));
    const same = { messages: [{ role: 'user', content: 'one question, two callers' }] };
    const patient = post(same).then((r) => r); // (supertest sends on then)
    await sleep(20);
    const t0 = Date.now();
    const hurried = await post({ ...same, deadlineMs: 150 });
    const took = Date.now() - t0;
    expect(hurried.status).toBe(503);
    expect(hurried.body.error.attempts).toEqual([{ model: 'smart', outcome: 'timeout' }]);
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(450); // not the 600 ms of the other caller's call
    // and the other caller, which had no deadline, was not failed by this one's
    const res = await patient;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model: 'smart', coalesced: false });
    expect(fake.stats('big')).toMatchObject({ requests: 2, completed: 1, aborted: 1 });
  });

  it('counts from the start of the request: time spent in the cache layers (an embedding) comes out of it', async () => {
    fake.setBehavior('embed', { latencyMs: 1000 });
    app = await startApp(opts({ cache: { semantic: { embeddingModel: 'embed', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 } } }));
    const t0 = Date.now();
    const res = await post({ ...ask(), temperature: 0, deadlineMs: 150 });
    const took = Date.now() - t0;
    expect(took).toBeLessThan(600); // not the 1 s of the embedding
    expect(res.status).toBe(503);
    expect(res.body.error.message).toBe('The deadline of 150 ms passed before any model could be tried');
    expect(fake.stats('big').requests).toBe(0);
  });
});

describe('adaptive timeouts', () => {
  const adaptive = { minSamples: 5, percentile: 95, multiplier: 1.5, minTimeoutMs: 20 };

  it('learn a model\'s latency and time out what is far slower than usual', async () => {
    fake.setBehavior('big', { latencyMs: 30 });
    app = await startApp(opts({ adaptiveTimeout: adaptive }));
    expect(app.llm.status().models[0].timeoutMs).toBe(2000);
    // exactly minSamples answers with the fixed timeout; from then on the timeout adapts
    for (let i = 0; i < 5; i++) await post(ask());
    const s = app.llm.status().models[0];
    expect(s.latency['*'].samples).toBe(5);
    expect(s.latency['*'].p95).toBeGreaterThanOrEqual(28);
    expect(s.timeoutMs).toBeGreaterThanOrEqual(40);
    expect(s.timeoutMs).toBeLessThan(300);
    fake.setBehavior('big', { latencyMs: 600 });
    const t0 = Date.now();
    const res = await post(ask());
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(450);
  });

  it('are on by default (20 samples, p95 × 1.5), and adaptiveTimeout: false keeps the fixed timeout', async () => {
    fake.setBehavior('big', { latencyMs: 20 });
    // the adaptive timeout alone: no rescue by the next model once the attempt runs past its p99
    app = await startApp(opts({ rescue: false }));
    for (let i = 0; i < 20; i++) await post(ask());
    expect(app.llm.status().models[0].timeoutMs).toBeLessThan(500);
    fake.setBehavior('big', { latencyMs: 700 });
    const res = await post(ask());
    expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout' });
    await app.close();
    fake.setBehavior('big', { latencyMs: 20 });
    app = await startApp(opts({ adaptiveTimeout: false }));
    for (let i = 0; i < 20; i++) await post(ask());
    expect(app.llm.status().models[0].timeoutMs).toBe(2000);
  });

  it('keep a record per task, and the route default comes from llmTask()', async () => {
    app = await startApp(opts({ adaptiveTimeout: adaptive }));
    fake.setBehavior('big', { latencyMs: 200 });
    for (let i = 0; i < 5; i++) await post(ask({ task: 'code' }));
    fake.setBehavior('big', { latencyMs: 10 });
    for (let i = 0; i < 5; i++) await post(ask({ task: 'summarize' }));
    const lat = app.llm.status().models[0].latency;
    expect(lat.code.p50).toBeGreaterThanOrEqual(190);
    expect(lat.summarize.p50).toBeLessThan(100);
    fake.setBehavior('big', { latencyMs: 150 });
    // the route's default task (llmTask('summarize')) applies when the request names none
    const summary = await request(app.server).post('/complete-summarize').send(ask());
    const code = await post(ask({ task: 'code' }));
    expect(summary.body.attempts[0].outcome).toBe('timeout');
    expect(code.body).toMatchObject({ model: 'smart', fallback: false });
  });

  it('scale with maxTokens when a request asks for a longer answer than usual', async () => {
    app = await startApp(opts({ adaptiveTimeout: adaptive }));
    fake.setBehavior('big', { latencyMs: 20 });
    for (let i = 0; i < 5; i++) await post(ask({ maxTokens: 100 }));
    // learnt p95 ≈ 20–30 ms: a usual request gets ~40 ms, one asking for 16× the tokens ~16× that. The gaps are
    // wide, so a loaded machine (slower samples) still puts 300 ms above the first timeout and below the second.
    fake.setBehavior('big', { latencyMs: 300 });
    const usual = await post(ask({ maxTokens: 100 }));
    const longer = await post(ask({ maxTokens: 1600 }));
    expect(usual.body.attempts[0].outcome).toBe('timeout');
    expect(longer.body).toMatchObject({ model: 'smart', fallback: false });
  });
});

describe('hedged requests', () => {
  it('start the next model when the current one passes its usual latency; the first answer wins and the loser is aborted', async () => {
    fake.setBehavior('big', { latencyMs: 30 });
    fake.setBehavior('small', { latencyMs: 20 });
    app = await startApp(opts({ hedge: { afterPercentile: 50, maxExtraLoad: 1, minSamples: 5 } }));
    const hedges: string[] = [];
    app.llm.on('hedge', (h) => hedges.push(`${h.from}->${h.to}`));
    for (let i = 0; i < 5; i++) await post(ask());
    fake.setBehavior('big', { latencyMs: 1500 });
    const t0 = Date.now();
    const res = await post(ask());
    expect(Date.now() - t0).toBeLessThan(600);
    expect(res.body).toMatchObject({ model: 'fast', hedged: true, fallback: true });
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ model: 'fast', outcome: 'success', hedged: true }),
      expect.objectContaining({ model: 'smart', outcome: 'cancelled' }),
    ]);
    expect(hedges).toEqual(['smart->fast']);
    await waitFor(() => fake.stats('big').aborted === 1);
    // the lost race is not a failure of the primary
    expect(app.llm.status().models[0].failures).toBe(0);
  });

  it('a caller that leaves during a hedge cancels both contenders, and its error lists both as cancelled', async () => {
    fake.setBehavior('big', { latencyMs: 20 });
    app = await startApp(opts({ hedge: { afterPercentile: 50, maxExtraLoad: 1, minSamples: 5 } }));
    for (let i = 0; i < 5; i++) await post(ask());
    fake.setBehavior('big', { mode: 'hang' });
    fake.setBehavior('small', { mode: 'hang' });
    const controller = new AbortController();
    const pending = app.llm.engine.complete({ messages: [{ role: 'user', content: 'hedged and abandoned' }], signal: controller.signal });
    await waitFor(() => fake.stats('small').pending === 1);
    controller.abort();
    const err = (await pending.catch((e: unknown) => e)) as { code: string; attempts: { model: string; outcome: string; message?: string; hedged?: boolean }[] };
    expect(err.code).toBe('REQUEST_ABORTED');
    expect(err.attempts.map((a) => [a.model, a.outcome, a.message, a.hedged ?? false]).sort()).toEqual([
      ['fast', 'cancelled', 'the caller went away', true],
      ['smart', 'cancelled', 'the caller went away', false],
    ]);
    await waitFor(() => fake.stats('big').aborted === 1 && fake.stats('small').aborted === 1);
    expect(app.llm.status().models.map((m) => m.failures)).toEqual([0, 0]);
  });

  it('stay under maxExtraLoad of traffic', async () => {
    fake.setBehavior('big', { latencyMs: 20 });
    app = await startApp(opts({ hedge: { afterPercentile: 50, maxExtraLoad: 0.2, minSamples: 5 } }));
    let hedges = 0;
    app.llm.on('hedge', () => void hedges++);
    for (let i = 0; i < 5; i++) await post(ask());
    fake.setBehavior('big', { latencyMs: 150 });
    for (let i = 0; i < 15; i++) await post(ask());
    expect(hedges).toBeGreaterThanOrEqual(1);
    expect(hedges).toBeLessThanOrEqual(Math.floor(20 * 0.2));
  });
});

describe('429 cool-downs', () => {
  it('honour retry-after-ms exactly, skip with no call meanwhile, then use the model again with no probe', async () => {
    fake.setBehavior('big', { mode: 'rate_limit', headers: { 'retry-after-ms': '300' } });
    // the cool-down alone: no same-model retry after the retry-after
    app = await startApp(opts({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 }, retry: false }));
    const first = await post(ask());
    expect(first.body.attempts[0]).toMatchObject({ outcome: 'rate_limited', status: 429 });
    const until = app.llm.status().models[0].cooldownUntil!;
    expect(until - Date.now()).toBeGreaterThan(150);
    expect(until - Date.now()).toBeLessThanOrEqual(300);
    fake.setBehavior('big', {});
    const during = await post(ask());
    expect(during.body.attempts[0]).toMatchObject({ outcome: 'rate_limited', latencyMs: 0 });
    expect(fake.stats('big').requests).toBe(1);
    // 429s stay out of the breaker's error rate: neither failures nor successes
    expect(app.llm.status().models[0]).toMatchObject({ state: 'closed', failures: 0, successes: 0 });
    await sleep(until - Date.now() + 20);
    const after = await post(ask());
    expect(after.body).toMatchObject({ model: 'smart', fallback: false });
  });

  it('read x-ratelimit-reset-*, cap by maxCooldownMs, and use the default without a header', async () => {
    fake.setBehavior('big', { mode: 'rate_limit', headers: { 'x-ratelimit-reset-requests': '6m0s' } });
    fake.setBehavior('small', { mode: 'rate_limit' });
    app = await startApp(opts({ rateLimit: { maxCooldownMs: 5000, defaultCooldownMs: 700 } }));
    const res = await post(ask());
    expect(res.status).toBe(503);
    const [big, small] = app.llm.status().models;
    expect(big.cooldownUntil! - Date.now()).toBeGreaterThan(4500);
    expect(big.cooldownUntil! - Date.now()).toBeLessThanOrEqual(5000);
    expect(small.cooldownUntil! - Date.now()).toBeLessThanOrEqual(700);
    // the 503's Retry-After is the earliest cool-down end
    expect(res.headers['retry-after']).toBe('1');
  });

  it('with both x-ratelimit resets, cools down until the limit that was hit resets (its remaining count is 0)', async () => {
    const resets = { 'x-ratelimit-reset-requests': '400ms', 'x-ratelimit-reset-tokens': '6m0s' };
    fake.setBehavior('big', { mode: 'rate_limit', headers: { ...resets, 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '149000' } });
    // the cool-down alone: no same-model retry after the 400 ms reset
    app = await startApp(opts({ retry: false }));
    expect((await post(ask())).body.model).toBe('fast');
    const left = app.llm.status().models[0].cooldownUntil! - Date.now();
    expect(left).toBeGreaterThan(200);
    expect(left).toBeLessThanOrEqual(400);
    fake.setBehavior('big', {});
    await sleep(450);
    expect((await post(ask())).body).toMatchObject({ model: 'smart', fallback: false });
    expect(fake.stats('big').requests).toBe(2);
  });
});

describe('context windows', () => {
  const long = 'lorem ipsum dolor sit amet '.repeat(40);

  it('skip a model whose window cannot hold prompt + maxTokens, with no call to it', async () => {
    app = await startApp(opts({ models: [smart({ contextWindow: 100 }), fast({ contextWindow: 128_000 })] }));
    const res = await post({ messages: [{ role: 'user', content: long }], maxTokens: 50 });
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'skipped_context', latencyMs: 0 });
    expect(res.body.attempts[0].message).toMatch(/needs \d+ tokens; the context window is 100/);
    expect(fake.stats('big').requests).toBe(0);
  });

  it('with truncate: oldest, drop the oldest turns but never the system prompt or the last user message', async () => {
    app = await startApp(opts({ models: [smart({ contextWindow: 120 })], truncate: 'oldest' }));
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: long },
      { role: 'assistant', content: long },
      { role: 'user', content: 'And now?' },
    ];
    const res = await post({ messages, maxTokens: 20 });
    expect(res.status).toBe(200);
    expect(res.body.contextTruncation).toMatchObject({ model: 'smart', droppedIndexes: [1, 2] });
    expect(res.body.contextTruncation.promptTokens).toBeLessThanOrEqual(100);
    expect(fake.requests('big')[0].body.messages).toEqual([messages[0], messages[3]]);
  });

  it('after a provider\'s context_length_exceeded, move on to a model with a larger window', async () => {
    fake.setBehavior('big', { mode: 'context_length' });
    const models = [smart({ contextWindow: 8000 }), { ...fast({ contextWindow: 8000 }), name: 'same', model: 'same' }, fast({ contextWindow: 128_000 })];
    app = await startApp(opts({ models }));
    const res = await post(ask());
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['error', 'skipped_context', 'success']);
    expect(fake.stats('same').requests).toBe(0);
  });

  it.each([
    ['vLLM', 'application/json', JSON.stringify({ error: { message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", type: 'BadRequestError', param: null, code: 400 } })],
    ['a plain-text proxy', 'text/plain', 'prompt is too long: 210000 tokens > 200000 maximum'],
  ])('a provider that says it only in words (%s: a 400 with no such code) is understood the same way', async (_who, contentType, body) => {
    // not the project's fake: a server answering as that provider does when the prompt does not fit
    let calls = 0;
    const vllm = http.createServer((req, res) => {
      calls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': contentType });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => vllm.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(vllm.address() as AddressInfo).port}/v1`;
      app = await startApp(opts({ models: [smart({ baseURL: url }), fast()] }));
      const res = await post(ask());
      expect(res.status).toBe(200);
      expect(res.body.model).toBe('fast');
      expect(res.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'error', status: 400, message: 'context length exceeded' });
      expect(calls).toBe(1);
      expect(app.llm.status().models[0]).toMatchObject({ name: 'smart', failures: 0 });
    } finally {
      vllm.closeAllConnections();
      await new Promise((resolve) => vllm.close(resolve));
    }
  });
});

describe('bad answers are failures', () => {
  it('a truncated answer is invalid unless acceptTruncated', async () => {
    fake.setBehavior('big', { mode: 'truncated' });
    app = await startApp(opts());
    const res = await post(ask());
    expect(res.body.model).toBe('fast');
    expect(res.body.attempts[0]).toMatchObject({ outcome: 'invalid', message: expect.stringMatching(/token limit/) });
    const ok = await post(ask({ acceptTruncated: true }));
    expect(ok.body).toMatchObject({ model: 'smart', finishReason: 'length' });
  });

  it('a schema is sent as response_format, validated, and parsed into result.json', async () => {
    const schema = { type: 'object', required: ['title'], properties: { title: { type: 'string' } } };
    fake.setBehavior('big', { text: '{"name": 3}' });
    fake.setBehavior('small', { text: '{"title": "ok"}' });
    app = await startApp(opts({ cache: {} }));
    const res = await post(ask({ schema }));
    expect(res.body.model).toBe('fast');
    expect(res.body.json).toEqual({ title: 'ok' });
    expect(res.body.attempts[0]).toMatchObject({ outcome: 'invalid', message: expect.stringMatching(/does not match the schema: \(root\) must have required property 'title'/) });
    expect(fake.requests('big')[0].body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema, strict: false } });
    fake.setBehavior('small', { text: 'not json' });
    fake.setBehavior('big', { text: 'not json either' });
    const bad = await post(ask({ schema }));
    expect(bad.status).toBe(503);
  });

  it('an invalid schema is the caller\'s 400', async () => {
    app = await startApp(opts());
    const res = await post(ask({ schema: { type: 'no-such-type' } }));
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatch(/^\/schema/);
    expect(fake.stats().requests).toBe(0);
  });

  it('invalid answers count toward the breaker and are never cached', async () => {
    fake.setBehavior('big', { mode: 'empty' });
    // fallbackTtlMs 0: the fallback's answer is not cached either, so a repeat must ask the primary again
    app = await startApp(opts({ cache: { fallbackTtlMs: 0 }, breaker: { volumeThreshold: 3, errorThresholdPercentage: 50 } }));
    const q = ask();
    await post(q);
    await post(q);
    expect(fake.stats('big').requests).toBe(2);
    expect(app.llm.status().cache?.size).toBe(0);
    expect(app.llm.status().models[0].state).toBe('closed');
    await post(ask());
    expect(app.llm.status().models[0]).toMatchObject({ state: 'open', failures: 3 });
  });
});

describe('validate hook (engine)', () => {
  it('returning false or throwing makes the attempt invalid', async () => {
    const { createEngine } = await import('../../../lib');
    const engine = createEngine({ models: [smart(), fast()], cache: false });
    const r = await engine.complete({ prompt: 'x', validate: ({ model }) => model !== 'smart' });
    expect(r.model).toBe('fast');
    expect(r.attempts[0]).toMatchObject({ outcome: 'invalid', message: 'validate() rejected the answer' });
    const t = await engine.complete({
      prompt: 'y',
      validate: ({ model }) => {
        if (model === 'smart') throw new Error('nope');
        return true;
      },
    });
    expect(t.attempts[0].message).toMatch(/validate\(\) threw: nope/);
    await engine.close();
  });

  /** Settles as `p`, or with 'hung' after `ms` (so that a test of a hang fails instead of timing out). */
  const within = <T>(p: Promise<T>, ms: number): Promise<T | 'hung'> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve('hung'), ms);
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e: unknown) => (clearTimeout(t), reject(e)),
      );
    });
  const never = (): Promise<boolean> => new Promise<boolean>(() => undefined);

  it('a hook that never settles is bounded by the attempt\'s timeout (a timeout, not a request that hangs)', async () => {
    const { createEngine } = await import('../../../lib');
    const engine = createEngine({ models: [smart({ timeoutMs: 100 }), fast({ timeoutMs: 100 })], cache: false, adaptiveTimeout: false });
    const t0 = Date.now();
    const err = await within(engine.complete({ prompt: 'x', validate: ({ model }) => (model === 'smart' ? never() : true) }), 3000);
    expect(err).toMatchObject({ model: 'fast' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((err as { attempts: unknown[] }).attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout', message: 'validate() did not settle within 100 ms' });
    expect(engine.status().models[0].inFlight).toBe(0);
    await engine.close();
  });

  it('on a cache hit too (then it is a miss), and at the end of a stream', async () => {
    const { createEngine, StreamInterruptedError } = await import('../../../lib');
    const engine = createEngine({ models: [smart({ timeoutMs: 100, idleTimeoutMs: 100 }), fast({ timeoutMs: 100, idleTimeoutMs: 100 })], cache: {}, adaptiveTimeout: false });
    await engine.complete({ prompt: 'cached' });
    const hit = await within(engine.complete({ prompt: 'cached', validate: never }).catch((e: unknown) => e), 3000);
    expect(hit).toMatchObject({ code: 'ALL_MODELS_FAILED' });
    expect((hit as { attempts: { outcome: string }[] }).attempts.map((a) => a.outcome)).toEqual(['timeout', 'timeout']);

    const s = engine.stream({ prompt: 'streamed', validate: never });
    const t0 = Date.now();
    await (async () => {
      for await (const _ of s) {
        // drain (the hook judges at the end, once the text has gone out: the stream then ends with an error)
      }
    })().catch(() => undefined);
    expect(Date.now() - t0).toBeLessThan(1000);
    const ended = await within(s.result.catch((e: unknown) => e), 3000);
    expect(ended).toBeInstanceOf(StreamInterruptedError);
    expect((ended as { attempts: unknown[] }).attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout', message: 'validate() did not settle in time' });
    await engine.close();
  });
});

describe('identical requests that judge answers differently (cache on: they share one call)', () => {
  it('a request that joins another\'s call applies its own validate hook; one that rejects the answer makes its own call', async () => {
    fake.setBehavior('big', { latencyMs: 150 });
    app = await startApp(opts({ cache: {} }));
    const same = { messages: [{ role: 'user' as const, content: 'one question, two judges' }] };
    const first = app.llm.engine.complete(same);
    await sleep(20);
    const picky = await app.llm.engine.complete({ ...same, validate: (r) => r.model !== 'smart' });
    expect(picky).toMatchObject({ model: 'fast', coalesced: false, cached: false });
    expect(picky.attempts).toEqual([
      expect.objectContaining({ model: 'smart', outcome: 'invalid' }),
      expect.objectContaining({ model: 'fast', outcome: 'success' }),
    ]);
    expect(await first).toMatchObject({ model: 'smart', coalesced: false });
    expect(fake.stats('big').requests).toBe(2);
    expect(fake.stats('small').requests).toBe(1);

    // a hook that accepts the shared answer costs no call of its own
    const again = { messages: [{ role: 'user' as const, content: 'one question, one call' }] };
    const a = app.llm.engine.complete(again);
    await sleep(20);
    const b = await app.llm.engine.complete({ ...again, validate: (r) => r.text.length > 0 });
    expect(b).toMatchObject({ model: 'smart', coalesced: true });
    expect((await a).model).toBe('smart');
    expect(fake.stats('big').requests).toBe(3);
  });

  it('a request without acceptTruncated that joins one with it does not get the truncated answer', async () => {
    fake.setBehavior('big', { latencyMs: 150, mode: 'truncated' });
    app = await startApp(opts({ cache: {} }));
    const same = { messages: [{ role: 'user' as const, content: 'a long answer, please' }] };
    const tolerant = app.llm.engine.complete({ ...same, acceptTruncated: true });
    await sleep(20);
    const strict = await app.llm.engine.complete(same);
    expect(strict).toMatchObject({ model: 'fast', finishReason: 'stop' });
    expect(strict.attempts[0]).toMatchObject({ model: 'smart', outcome: 'invalid' });
    expect(await tolerant).toMatchObject({ model: 'smart', finishReason: 'length' });
  });

  it('truncate: oldest is part of the cache key: an answer to a trimmed prompt never answers the whole one', async () => {
    app = await startApp(opts({ cache: {}, models: [smart({ contextWindow: 120 }), fast()] }));
    const long = 'lorem ipsum dolor sit amet '.repeat(40);
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: long },
      { role: 'assistant', content: long },
      { role: 'user', content: 'And now, in one line?' },
    ];
    const trimmed = await post({ messages, maxTokens: 20, truncate: 'oldest' });
    expect(trimmed.body).toMatchObject({ model: 'smart', contextTruncation: { droppedIndexes: [1, 2] } });
    const whole = await post({ messages, maxTokens: 20 });
    expect(whole.body).toMatchObject({ model: 'fast', cached: false });
    expect(whole.body.attempts[0]).toMatchObject({ model: 'smart', outcome: 'skipped_context' });
    // each is a hit for its own kind
    expect((await post({ messages, maxTokens: 20, truncate: 'oldest' })).body).toMatchObject({ model: 'smart', cached: true });
    expect((await post({ messages, maxTokens: 20 })).body).toMatchObject({ model: 'fast', cached: true });
  });
});

describe('bulkhead', () => {
  it('sends requests past maxConcurrent to the next model at once instead of queueing', async () => {
    fake.setBehavior('big', { latencyMs: 200 });
    app = await startApp(opts({ models: [smart({ maxConcurrent: 2 }), fast()] }));
    const results = await Promise.all([1, 2, 3, 4].map(() => post(ask())));
    const byModel = results.map((r) => r.body.model).sort();
    expect(byModel).toEqual(['fast', 'fast', 'smart', 'smart']);
    const overloaded = results.filter((r) => r.body.attempts[0].outcome === 'overloaded');
    expect(overloaded).toHaveLength(2);
    expect(overloaded[0].body.attempts[0].latencyMs).toBe(0);
    expect(fake.stats('big').requests).toBe(2);
  });
});
