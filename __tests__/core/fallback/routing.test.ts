/**
 * Routing over real HTTP: bounded same-model retries (transient failures, 429s with a short retry-after, the retry
 * budget), a breaker that opens on a run of failures under light traffic, and rescues (a half-open probe or a
 * sudden outage's first requests answered by the next model while the slow attempt runs to its own end).
 */
import request from 'supertest';
import type { FakeLlm } from '../../../lib/testing';
import type { LlmEventMap, ModelConfig } from '../../../lib/types';
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

const primary = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'primary', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, ...extra });
const backup = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'backup', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, ...extra });
const opts = (extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions => ({ models: [primary(), backup()], cache: false, ...extra });
const post = (body: Record<string, unknown>) => request(app!.server).post('/complete').send(body);
let n = 0;
const ask = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content: `question ${++n}` }], ...extra });

function collect<K extends keyof LlmEventMap>(name: K): LlmEventMap[K][] {
  const seen: LlmEventMap[K][] = [];
  app!.llm.on(name, (e) => seen.push(e));
  return seen;
}

describe('same-model retries', () => {
  it.each([
    ['a 500', { mode: 'error', status: 500 } as const],
    ['a 503', { mode: 'error', status: 503 } as const],
    ['a connection reset before any answer', { mode: 'reset' } as const],
  ])('%s then an answer: the primary answers on its second attempt, the backup is never called', async (_name, failure) => {
    fake.setBehavior('big', { ...failure, times: 1 });
    app = await startApp(opts());
    const retries = collect('retry');
    const res = await post(ask());
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('primary');
    expect(res.body.fallback).toBe(false);
    expect(fake.stats('big').requests).toBe(2);
    expect(fake.stats('small').requests).toBe(0);
    expect(res.body.attempts).toHaveLength(2);
    expect(res.body.attempts[0]).toMatchObject({ model: 'primary', outcome: 'error' });
    expect(res.body.attempts[1]).toMatchObject({ model: 'primary', outcome: 'success', retry: 1 });
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ model: 'primary', retry: 1, reason: 'error' });
    // jittered backoff: between half and all of the 100 ms base
    expect(retries[0].delayMs).toBeGreaterThanOrEqual(50);
    expect(retries[0].delayMs).toBeLessThanOrEqual(100);
  });

  it('retries once only: a second failure falls back to the next model', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500 });
    app = await startApp(opts());
    const res = await post(ask());
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(2);
    expect(res.body.attempts.map((a: { model: string; outcome: string; retry?: number }) => [a.model, a.outcome, a.retry])).toEqual([
      ['primary', 'error', undefined],
      ['primary', 'error', 1],
      ['backup', 'success', undefined],
    ]);
  });

  it('a 429 with retry-after: 1 is retried after at least 1 s when the deadline allows', async () => {
    fake.setBehavior('big', { mode: 'rate_limit', retryAfterS: 1, times: 1 });
    app = await startApp(opts());
    const t0 = Date.now();
    const res = await post(ask());
    const took = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('primary');
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(fake.stats('big').requests).toBe(2);
    expect(fake.stats('small').requests).toBe(0);
    const [first, second] = fake.requests('big');
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1000);
  });

  it('a 429 whose retry-after does not fit the deadline fails over at once', async () => {
    fake.setBehavior('big', { mode: 'rate_limit', retryAfterS: 1, times: 1 });
    app = await startApp(opts({ deadlineMs: 800 }));
    const t0 = Date.now();
    const res = await post(ask());
    expect(Date.now() - t0).toBeLessThan(700);
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
  });

  it('a 429 whose retry-after is longer than maxRetryAfterMs fails over at once', async () => {
    fake.setBehavior('big', { mode: 'rate_limit', retryAfterS: 5, times: 1 });
    app = await startApp(opts());
    const res = await post(ask());
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
  });

  it('never after a timeout: retrying a slow provider only adds to its load', async () => {
    fake.setBehavior('big', { mode: 'hang' });
    app = await startApp(opts({ models: [primary({ timeoutMs: 150 }), backup()] }));
    const res = await post(ask());
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
  });

  it('never when the failure opened the breaker', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500 });
    app = await startApp(opts({ breaker: { consecutiveFailures: 1 } }));
    const res = await post(ask());
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
    expect(app.llm.status().models.find((m) => m.name === 'primary')?.state).toBe('open');
  });

  it('never for what a retry cannot change: an invalid answer, the caller’s 400, a refused key', async () => {
    fake.setBehavior('big', { mode: 'malformed' });
    app = await startApp(opts());
    expect((await post(ask())).body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
    fake.setBehavior('big', { mode: 'error', status: 401 });
    expect((await post(ask())).body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(2);
    fake.setBehavior('big', { mode: 'error', status: 400 });
    expect((await post(ask())).status).toBe(400);
    expect(fake.stats('big').requests).toBe(3);
  });

  it('retry: false turns it off', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500, times: 1 });
    app = await startApp(opts({ retry: false }));
    const res = await post(ask());
    expect(res.body.model).toBe('backup');
    expect(fake.stats('big').requests).toBe(1);
  });

  it('the retry budget holds a dead primary to its fraction of extra calls under load', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500 });
    // the breaker kept out of it, so only the budget bounds the retries
    app = await startApp(opts({ breaker: { volumeThreshold: 100_000, consecutiveFailures: 0 }, retry: { budgetRatio: 0.1, budgetMinRetries: 3 } }));
    const requests = 120;
    for (let sent = 0; sent < requests; sent += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => post(ask())));
      for (const r of batch) expect(r.body.model).toBe('backup');
    }
    const extra = fake.stats('big').requests - requests;
    expect(extra).toBeGreaterThan(0); // retries happened
    expect(extra).toBeLessThanOrEqual(3 + 0.1 * requests); // and stayed within the budget
    expect(fake.stats('small').requests).toBe(requests);
  });

  it('a stream is retried the same way before its first token', async () => {
    fake.setBehavior('big', { mode: 'error', status: 502, times: 1 });
    app = await startApp(opts());
    const chunks: string[] = [];
    const s = app.llm.engine.stream({ messages: [{ role: 'user', content: 'stream me' }] });
    for await (const c of s) chunks.push(c);
    const result = await s.result;
    expect(result.model).toBe('primary');
    expect(chunks.join('').length).toBeGreaterThan(0);
    expect(fake.stats('big').requests).toBe(2);
    expect(fake.stats('small').requests).toBe(0);
  });
});

describe('a breaker that opens on a run of failures', () => {
  it('under light traffic (the window never reaches its volume) stops calling the dead model within a few requests', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500 });
    app = await startApp(opts({ retry: false, breaker: { volumeThreshold: 20, rollingWindowMs: 1000 } }));
    const opened = collect('breaker:open');
    for (let i = 0; i < 10; i++) {
      const res = await post(ask());
      expect(res.body.model).toBe('backup');
      await sleep(150); // about 6 requests a second: never 20 in the window
    }
    expect(opened).toHaveLength(1);
    expect(fake.stats('big').requests).toBe(5); // the default: 5 failures in a row
  });

  it('after a window of successes, opens on the run of failures instead of waiting for the error rate', async () => {
    app = await startApp(opts({ retry: false }));
    for (let i = 0; i < 30; i++) expect((await post(ask())).body.model).toBe('primary');
    fake.setBehavior('big', { mode: 'error', status: 500 });
    for (let i = 0; i < 8; i++) expect((await post(ask())).body.model).toBe('backup');
    // 5 failures of 35 calls is far under 50%: only the run opened it
    expect(fake.stats('big').requests).toBe(35);
    expect(app.llm.status().models.find((m) => m.name === 'primary')?.state).toBe('open');
  });
});

describe('rescues: probes and first failures no caller waits for', () => {
  /** 25 quick answers: the primary's usual latency is known (the rescue's delay is its p99). */
  async function warm(): Promise<void> {
    fake.setBehavior('big', { latencyMs: 10 });
    for (let i = 0; i < 25; i++) expect((await post(ask())).body.model).toBe('primary');
  }

  it('a half-open probe that hangs costs its caller the backup’s latency plus the rescue delay, and still decides the breaker', async () => {
    fake.setBehavior('small', { latencyMs: 30 });
    app = await startApp(opts({ adaptiveTimeout: false, retry: false, models: [primary({ timeoutMs: 1500 }), backup()], breaker: { resetTimeoutMs: 300, consecutiveFailures: 1 } }));
    await warm();
    fake.setBehavior('big', { mode: 'error', status: 500 });
    expect((await post(ask())).body.model).toBe('backup'); // opens the breaker
    fake.setBehavior('big', { mode: 'hang' });
    await sleep(350); // half-open
    const rescues = collect('rescue');
    const background = collect('attempt');
    const opened = collect('breaker:open');
    const t0 = Date.now();
    const res = await post(ask());
    const took = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('backup');
    expect(took).toBeLessThan(600); // the probe itself waits 1500 ms for its timeout
    expect(rescues).toEqual([expect.objectContaining({ from: 'primary', to: 'backup', probe: true })]);
    // the answer first, then the attempt it superseded (as a hedge's winner, then what it cancelled)
    expect(res.body.attempts.map((a: { model: string; outcome: string; rescue?: boolean }) => [a.model, a.outcome, a.rescue])).toEqual([
      ['backup', 'success', true],
      ['primary', 'superseded', undefined],
    ]);
    // the probe ran to its own end (its timeout), which re-opened the breaker
    await waitFor(() => opened.length === 1, 3000);
    expect(background.filter((e) => e.background)).toEqual([expect.objectContaining({ model: 'primary', outcome: 'timeout', background: true })]);
    await waitFor(() => fake.stats('big').aborted >= 1); // and its call was really cancelled then
  });

  it('a probe that answers closes the breaker, even when the rescue answered first', async () => {
    fake.setBehavior('small', { latencyMs: 10 });
    app = await startApp(opts({ retry: false, breaker: { resetTimeoutMs: 300, consecutiveFailures: 1 } }));
    await warm();
    fake.setBehavior('big', { mode: 'error', status: 500 });
    await post(ask());
    fake.setBehavior('big', { latencyMs: 200 }); // recovered, but slower than usual
    await sleep(350);
    const closed = collect('breaker:close');
    const res = await post(ask());
    expect(res.body.model).toBe('backup');
    await waitFor(() => closed.length === 1, 2000);
    expect(app.llm.status().models.find((m) => m.name === 'primary')?.state).toBe('closed');
    fake.setBehavior('big', { latencyMs: 5 });
    expect((await post(ask())).body.model).toBe('primary');
  });

  it('the first requests of a sudden outage are answered by the next model after the primary’s usual latency, not its timeout', async () => {
    fake.setBehavior('small', { latencyMs: 20 });
    app = await startApp(opts({ adaptiveTimeout: false, models: [primary({ timeoutMs: 1500 }), backup()] }));
    await warm();
    fake.setBehavior('big', { mode: 'hang' });
    const t0 = Date.now();
    const res = await post(ask());
    expect(Date.now() - t0).toBeLessThan(600);
    expect(res.body.model).toBe('backup');
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ model: 'backup', outcome: 'success', rescue: true }),
      expect.objectContaining({ model: 'primary', outcome: 'superseded' }),
    ]);
  });

  it('rescue: false waits for the probe, as before', async () => {
    fake.setBehavior('small', { latencyMs: 10 });
    app = await startApp(opts({ rescue: false, adaptiveTimeout: false, retry: false, models: [primary({ timeoutMs: 400 }), backup()], breaker: { resetTimeoutMs: 300, consecutiveFailures: 1 } }));
    await warm();
    fake.setBehavior('big', { mode: 'error', status: 500 });
    await post(ask());
    fake.setBehavior('big', { mode: 'hang' });
    await sleep(350);
    const t0 = Date.now();
    const res = await post(ask());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(res.body.model).toBe('backup');
  });
});
