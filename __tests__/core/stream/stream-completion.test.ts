/** Streams over real HTTP: ctx.llm.stream / ctx.llm.sse with failover before the first token, stalls, cuts, midStream. */
import Koa from 'koa';
import { createEngine, isStreamInterruptedError, llmResilience, type LlmResilienceMiddleware, RequestAbortedError, StreamInterruptedError } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { listen, type Listening, readJson, sleep, waitFor } from '../../helpers/app';

let fake: FakeLlm;
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(() => fake.close());

const m = (name: string, model: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ name, model, baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, firstTokenTimeoutMs: 300, idleTimeoutMs: 150, ...extra });
const opts = (extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions => ({ models: [m('smart', 'big'), m('fast', 'small')], cache: false, ...extra });
let n = 0;
const ask = (extra = {}) => ({ messages: [{ role: 'user' as const, content: `tell me a story number ${++n}` }], ...extra });

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of stream) out.push(d);
  return out;
}

describe('engine.stream', () => {
  it('streams deltas and resolves a result with model, usage and first-token time', async () => {
    fake.setBehavior('big', { chunkDelayMs: 5 });
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const deltas = await collect(s);
    const r = await s.result;
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(r.text);
    expect(r.text).toMatch(/^big answer: tell me a story/);
    expect(r).toMatchObject({ model: 'smart', fallback: false, resumed: false, cached: false, finishReason: 'stop' });
    expect(r.usage.totalTokens).toBeGreaterThan(0);
    expect(r.firstTokenMs).not.toBeNull();
    expect(fake.requests('big')[0].body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    await engine.close();
  });

  it.each([
    ['an HTTP 500', { mode: 'error' }, 'error'],
    ['a 429', { mode: 'rate_limit' }, 'rate_limited'],
    ['no first token in time', { latencyMs: 2000 }, 'timeout'],
    ['a connection reset', { mode: 'reset' }, 'error'],
    ['a stream that ends without [DONE]', { mode: 'no_done', text: '' }, 'invalid'],
  ] as const)('moves on invisibly before the first token: %s', async (_l, behavior, outcome) => {
    fake.setBehavior('big', behavior);
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const text = (await collect(s)).join('');
    const r = await s.result;
    expect(text).toMatch(/^small answer/);
    expect(r).toMatchObject({ model: 'fast', fallback: true });
    expect(r.attempts[0]).toMatchObject({ model: 'smart', outcome });
    await engine.close();
  });

  it('a stream that ends without a finish reason or [DONE] is a failure, not a success', async () => {
    fake.setBehavior('big', { mode: 'no_done', text: 'partial words here' });
    fake.setBehavior('small', { mode: 'no_done' });
    const engine = createEngine(opts({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const s = engine.stream(ask());
    await expect(collect(s)).rejects.toBeInstanceOf(StreamInterruptedError);
    const err = await s.result.catch((e: unknown) => e);
    expect(isStreamInterruptedError(err)).toBe(true);
    expect((err as StreamInterruptedError).attempts[0]).toMatchObject({ outcome: 'invalid', message: 'stream ended without a finish reason' });
    expect(engine.status().models[0].state).toBe('open');
    await engine.close();
  });

  it('a slow but steady stream outlives its idle timeout: every chunk restarts it', async () => {
    fake.setBehavior('big', { chunkDelayMs: 40 });
    const engine = createEngine(opts());
    const started = performance.now();
    const s = engine.stream(ask());
    const deltas = await collect(s);
    const r = await s.result;
    // longer in all than the 150 ms idle timeout, with no gap as long as it
    expect(performance.now() - started).toBeGreaterThan(200);
    expect(deltas.join('')).toBe(r.text);
    expect(r).toMatchObject({ model: 'smart', fallback: false });
    expect(r.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
    expect(fake.stats('small').requests).toBe(0);
    await engine.close();
  });

  it('a stall after the first token is cut at the idle timeout, not at the longer first-token one', async () => {
    fake.setBehavior('big', { mode: 'stall', failAfterChunks: 1 });
    const engine = createEngine(opts({ models: [m('smart', 'big', { firstTokenTimeoutMs: 1500, idleTimeoutMs: 60 }), m('fast', 'small')] }));
    const s = engine.stream(ask());
    const started = performance.now();
    await expect(collect(s)).rejects.toBeInstanceOf(StreamInterruptedError);
    // 60 ms after the chunk, with a wide margin, and far from the 1500 ms of the first-token stage
    expect(performance.now() - started).toBeLessThan(1000);
    await engine.close();
  });

  it('after the first token, a stall ends the stream with an explicit error (midStream: error)', async () => {
    fake.setBehavior('big', { mode: 'stall', failAfterChunks: 2 });
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const d of s) got.push(d);
    } catch (e) {
      error = e;
    }
    expect(got).toHaveLength(2);
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect((error as StreamInterruptedError).deliveredChars).toBe(got.join('').length);
    expect((error as StreamInterruptedError).attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout', message: 'stream stalled for 150 ms' });
    expect(fake.stats('small').requests).toBe(0);
    await waitFor(() => fake.stats('big').aborted === 1);
    await engine.close();
  });

  it('with midStream: continue, the next model with prefill continues the partial answer (sent as a trailing assistant message) and it is spliced in', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 3, text: 'one two three four five six' });
    fake.setBehavior('small', { text: 'one two three four five six', prefill: 'continue' });
    const engine = createEngine(opts({ midStream: 'continue', models: [m('smart', 'big'), m('fast', 'small', { prefill: true })] }));
    const s = engine.stream(ask());
    const text = (await collect(s)).join('');
    const r = await s.result;
    expect(text).toBe('one two three four five six');
    expect(r).toMatchObject({ model: 'fast', resumed: true, fallback: true, text });
    expect(r.attempts.map((a) => [a.model, a.outcome])).toEqual([
      ['smart', 'error'],
      ['fast', 'success'],
    ]);
    const cont = fake.requests('small')[0].body.messages as { role: string; content: string }[];
    expect(cont.at(-1)).toEqual({ role: 'assistant', content: 'one two three ' });
    expect(cont.at(-2)?.role).toBe('user');
    await engine.close();
  });

  it('a completed stream is cached and a hit is replayed as a stream; it counts as a breaker success', async () => {
    const engine = createEngine(opts({ cache: {} }));
    const q = ask();
    const first = engine.stream(q);
    const a = (await collect(first)).join('');
    const second = engine.stream(q);
    const deltas = await collect(second);
    const r = await second.result;
    expect(deltas.join('')).toBe(a);
    expect(deltas.length).toBeGreaterThan(1);
    expect(r).toMatchObject({ cached: true, attempts: [], firstTokenMs: null });
    expect(fake.stats().requests).toBe(1);
    expect(engine.status().models[0].successes).toBe(1);
    // and complete() is served from the same entry
    expect((await engine.complete(q)).cached).toBe(true);
    // a stream whose validate hook rejects the cached answer is not replayed: it streams its own call (whose
    // answer the hook judges at the end, as for any stream)
    const picky = engine.stream({ ...q, validate: (x) => x.model !== 'smart' });
    await collect(picky).catch(() => undefined);
    const err = (await picky.result.catch((e: unknown) => e)) as StreamInterruptedError;
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err.attempts.map((x) => [x.model, x.outcome])).toEqual([['smart', 'invalid']]);
    expect(fake.stats('big').requests).toBe(2);
    await engine.close();
  });

  it('breaking out of the loop cancels the upstream stream and does not count against the model', async () => {
    fake.setBehavior('big', { chunkDelayMs: 50, text: 'a b c d e f g h i j k l m n o p' });
    const engine = createEngine(opts({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const s = engine.stream(ask());
    for await (const _ of s) break;
    await waitFor(() => fake.stats('big').aborted === 1);
    await sleep(20);
    expect(engine.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    const err = (await s.result.catch((e: unknown) => e)) as RequestAbortedError;
    expect(err).toBeInstanceOf(RequestAbortedError);
    expect(err.message).toMatch(/abandoned/);
    // the attempt the consumer stopped reading is on the error, cancelled
    expect(err.attempts).toEqual([{ model: 'smart', outcome: 'cancelled', latencyMs: expect.any(Number), message: 'the caller went away' }]);
    await engine.close();
  });

  it('first-token timeouts adapt like attempt timeouts once there are enough samples', async () => {
    fake.setBehavior('big', { latencyMs: 20 });
    const engine = createEngine(opts({ adaptiveTimeout: { minSamples: 5, minTimeoutMs: 20 }, models: [m('smart', 'big', { firstTokenTimeoutMs: 2000 }), m('fast', 'small')] }));
    for (let i = 0; i < 5; i++) await engine.stream(ask()).final();
    fake.setBehavior('big', { latencyMs: 400 });
    const t0 = Date.now();
    const r = await engine.stream(ask()).final();
    expect(r.model).toBe('fast');
    expect(r.attempts[0]).toMatchObject({ outcome: 'timeout', message: expect.stringMatching(/no first token within \d+ ms/) });
    expect(Date.now() - t0).toBeLessThan(350);
    await engine.close();
  });
});

describe('ctx.llm.sse over HTTP', () => {
  let llm: LlmResilienceMiddleware;
  let listening: Listening;
  let url: string;

  async function start(options: LlmResilienceOptions): Promise<void> {
    llm = llmResilience(options);
    const app = new Koa();
    app.use(llm);
    app.use(async (ctx) => {
      await ctx.llm.sse((await readJson(ctx.req)) as never);
    });
    listening = await listen(app);
    url = listening.url;
  }
  afterEach(async () => {
    await llm.close();
    await listening.close();
  });

  function events(raw: string): { event: string; data: Record<string, unknown> }[] {
    return raw
      .split('\n\n')
      .filter(Boolean)
      .map((block) => {
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as Record<string, unknown>;
        return { event, data };
      });
  }

  it('sends text/event-stream deltas as they come, then a done event with model, fallback and usage', async () => {
    fake.setBehavior('big', { mode: 'error' });
    fake.setBehavior('small', { chunkDelayMs: 30, text: 'alpha beta gamma delta' });
    await start(opts());
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(ask()) });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-llm-model')).toBeNull(); // exposeHeaders is off by default
    const reader = res.body!.getReader();
    const firstChunkAt: number[] = [];
    let raw = '';
    const t0 = Date.now();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      firstChunkAt.push(Date.now() - t0);
      raw += Buffer.from(value).toString();
    }
    // flushed as they come, not buffered until the end
    expect(firstChunkAt.length).toBeGreaterThan(2);
    const ev = events(raw);
    expect(ev.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe('alpha beta gamma delta');
    // (the 500 is retried once on the same model before the fallback)
    expect(ev.at(-1)).toMatchObject({ event: 'done', data: { model: 'fast', fallback: true, resumed: false, attempts: [{ model: 'smart', outcome: 'error' }, { model: 'smart', outcome: 'error' }, { model: 'fast', outcome: 'success' }] } });
    expect((ev.at(-1)!.data.usage as { totalTokens: number }).totalTokens).toBeGreaterThan(0);
  });

  it('with exposeHeaders, the x-llm-* headers say who streams, set at the first token: a fallback, then its cache replay', async () => {
    fake.setBehavior('big', { mode: 'error' });
    fake.setBehavior('small', { text: 'alpha beta gamma' });
    await start(opts({ exposeHeaders: true, cache: {} }));
    const names = ['x-llm-model', 'x-llm-fallback', 'x-llm-cache', 'x-llm-attempts'];
    const headers = (res: Response) => Object.fromEntries(names.map((h) => [h, res.headers.get(h)]));
    const q = ask();
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(q) });
    expect(res.status).toBe(200);
    // three attempts: smart, its retry of the 500, then fast
    expect(headers(res)).toEqual({ 'x-llm-model': 'fast', 'x-llm-fallback': 'true', 'x-llm-cache': 'miss', 'x-llm-attempts': '3' });
    expect(events(await res.text()).at(-1)).toMatchObject({ event: 'done', data: { model: 'fast', fallback: true } });
    const again = await fetch(url, { method: 'POST', body: JSON.stringify(q) });
    expect(headers(again)).toEqual({ 'x-llm-model': 'fast', 'x-llm-fallback': 'true', 'x-llm-cache': 'hit', 'x-llm-attempts': '0' });
    expect(events(await again.text()).at(-1)).toMatchObject({ event: 'done', data: { cached: true } });
    expect(fake.stats('small').requests).toBe(1);
  });

  it('fails before the first token as a plain 503, and mid-stream with an error event, never a clean end', async () => {
    fake.setBehavior('big', { mode: 'error' });
    fake.setBehavior('small', { mode: 'error' });
    await start(opts());
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(ask()) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('all_models_failed');

    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2 });
    const res2 = await fetch(url, { method: 'POST', body: JSON.stringify(ask()) });
    expect(res2.status).toBe(200);
    const ev = events(await res2.text());
    expect(ev.filter((e) => e.event === 'delta')).toHaveLength(2);
    expect(ev.at(-1)).toMatchObject({ event: 'error', data: { type: 'stream_interrupted', code: 'STREAM_INTERRUPTED' } });
    expect(ev.some((e) => e.event === 'done')).toBe(false);
  });

  it('a client that disconnects stops the upstream stream, not counted against the model', async () => {
    fake.setBehavior('big', { chunkDelayMs: 60, text: 'a b c d e f g h i j k l m n o p q r' });
    await start(opts({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    const ac = new AbortController();
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(ask()), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await waitFor(() => fake.stats('big').aborted === 1);
    await sleep(30);
    expect(llm.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    expect(fake.stats('small').requests).toBe(0);
  });
});
