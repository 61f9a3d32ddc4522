/**
 * `stream()` through the public engine with in-memory providers on jest's fake clock: providers with and without
 * `stream()`, the first-token and idle timeouts at their fake times, failures before the first token (invisible),
 * failures after it with `midStream: 'error'` and `'continue'` (prefill models), and cache replays.
 */
import { ConfigError, createEngine, StreamInterruptedError, type LlmEngine, type LlmResilienceOptions, type LlmStream } from '../../../lib';
import { memoryProvider } from '../../../lib/testing';
import type { CompletionRequest } from '../../../lib/types';
import { drive, expectFakeMs, outcome, useFakeClock } from '../../helpers/fake-clock';

let engine: LlmEngine | null = null;

beforeEach(() => useFakeClock());
afterEach(async () => {
  if (engine) await drive(engine.close());
  engine = null;
  jest.useRealTimers();
});

function start(options: LlmResilienceOptions): LlmEngine {
  engine = createEngine({ tracing: false, adaptiveTimeout: false, ...options });
  return engine;
}
const ask = (content = 'tell me', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content }], ...extra });
const outcomes = (attempts: readonly { model: string; outcome: string }[]) => attempts.map((a) => `${a.model}:${a.outcome}`);

/** Reads a stream to its end on the fake clock: the deltas it delivered, and the error it ended with, if any. */
async function read(stream: LlmStream): Promise<{ deltas: string[]; error: unknown }> {
  const deltas: string[] = [];
  const r = await outcome(
    drive(
      (async () => {
        for await (const d of stream) deltas.push(d);
      })(),
    ),
  );
  return { deltas, error: r.ok ? undefined : r.error };
}

const FULL = 'The quick brown fox jumps over the lazy dog.';

describe('streaming a provider', () => {
  it('with stream(): its parts are the deltas; the result says who answered, when the first token came, and the usage', async () => {
    const a = memoryProvider({ fallback: { text: 'streamed answer', latencyMs: 30, usage: { promptTokens: 5, completionTokens: 6 } }, chunkChars: 4, chunkDelayMs: 10 });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a-1', provider: a, price: { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000 } }] });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(error).toBeUndefined();
    expect(deltas).toEqual(['stre', 'amed', ' ans', 'wer']);
    const r = await s.result;
    expect(r).toMatchObject({ text: 'streamed answer', model: 'a', providerModel: 'a-1', cached: false, fallback: false, resumed: false, finishReason: 'stop', firstTokenMs: 30 });
    expect(outcomes(r.attempts)).toEqual(['a:success']);
    expect(r.usage).toMatchObject({ promptTokens: 5, completionTokens: 6, totalTokens: 11, costUsd: 11 });
    expect(r.latencyMs).toBe(70);
    expect(a.calls[0].stream).toBe(true);
  });

  it('without stream(): the answer comes in one piece, through complete()', async () => {
    const a = memoryProvider({ fallback: { text: 'all at once' }, streams: false });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }] });
    const s = e.stream(ask());
    const { deltas } = await read(s);
    expect(deltas).toEqual(['all at once']);
    expect(a.calls[0].stream).toBe(false);
    expect((await s.result).model).toBe('a');
  });

  it('asks nothing of a provider until the stream is iterated; final() consumes it', async () => {
    const a = memoryProvider();
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }] });
    const s = e.stream(ask());
    await jest.advanceTimersByTimeAsync(1_000);
    expect(a.calls).toHaveLength(0);
    expect((await drive(s.final())).text).toBe('answer from a');
    expect(a.calls).toHaveLength(1);
  });

  it('a failure before the first token moves on invisibly: only the next model\'s text is delivered', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 503 } });
    const b = memoryProvider({ fallback: { text: 'from b' } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe('from b');
    expect(await s.result).toMatchObject({ model: 'b', fallback: true });
    // the 503 is retried once on a, invisibly too, before b
    expect(outcomes((await s.result).attempts)).toEqual(['a:error', 'a:error', 'b:success']);
    expect((await s.result).attempts[1].retry).toBe(1);
  });

  it('a 429 before the first token cools the model down, as with complete()', async () => {
    const a = memoryProvider({ steps: [{ kind: 'fail', status: 429, retryAfterMs: 2_000 }] });
    // the cool-down alone: no same-model retry after the retry-after
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }], retry: false });
    await read(e.stream(ask('one')));
    const s = e.stream(ask('two'));
    await read(s);
    expect((await s.result).attempts[0]).toMatchObject({ model: 'a', outcome: 'rate_limited', latencyMs: 0 });
    expect(a.calls).toHaveLength(1);
  });
});

describe('streams are not hedged', () => {
  it('a slow first model is waited for up to its first-token timeout, with no second model started', async () => {
    const a = memoryProvider({ fallback: { text: 'a', latencyMs: 100 } });
    const b = memoryProvider();
    const e = start({ cache: false, hedge: { minSamples: 3, maxExtraLoad: 1 }, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 5_000 }, { name: 'b', model: 'b', provider: b }] });
    for (let i = 0; i < 3; i++) await drive(e.complete(ask(`warm ${i}`)));
    a.setFallback({ text: 'slow stream', latencyMs: 1_000 });
    const s = e.stream(ask('slow'));
    expect((await read(s)).deltas.join('')).toBe('slow stream');
    expect(await s.result).toMatchObject({ model: 'a', fallback: false });
    expect(b.calls).toHaveLength(0);
  });
});

describe('stream timeouts', () => {
  it('no first token within firstTokenTimeoutMs: the provider\'s signal is aborted then, and the next model streams', async () => {
    const a = memoryProvider({ fallback: { kind: 'hang' } });
    const b = memoryProvider({ fallback: { text: 'from b' } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 5_000, firstTokenTimeoutMs: 300 }, { name: 'b', model: 'b', provider: b }] });
    const s = e.stream(ask());
    const t0 = Date.now();
    const reading = read(s);
    await jest.advanceTimersByTimeAsync(299);
    expect(a.calls[0]).toMatchObject({ state: 'running', aborted: false });
    expect(b.calls).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(a.calls[0]).toMatchObject({ aborted: true });
    const { deltas } = await reading;
    expect(deltas.join('')).toBe('from b');
    expectFakeMs(Date.now() - t0, 300, 4); // b's parts each follow a setTimeout(0): a fake ms apiece
    expect(outcomes((await s.result).attempts)).toEqual(['a:timeout', 'b:success']);
  });

  it('a silence longer than idleTimeoutMs once the answer has started is a failure: aborted then, StreamInterruptedError', async () => {
    const a = memoryProvider({ fallback: { text: 'first and then nothing' }, chunkChars: 5, chunkDelayMs: 10_000 });
    const b = memoryProvider();
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a, idleTimeoutMs: 400 }, { name: 'b', model: 'b', provider: b }] });
    const s = e.stream(ask());
    const t0 = Date.now();
    const reading = read(s);
    await jest.advanceTimersByTimeAsync(399);
    expect(a.calls[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(a.calls[0].aborted).toBe(true);
    const { deltas, error } = await reading;
    expectFakeMs(Date.now() - t0, 400);
    expect(deltas).toEqual(['first']);
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', deliveredChars: 5 });
    expect(outcomes((error as StreamInterruptedError).attempts)).toEqual(['a:timeout']);
    expect(b.calls).toHaveLength(0);
    await expect(s.result).rejects.toBe(error);
    expect(e.status().models[0].failures).toBe(1);
  });

  it('chunks that keep coming within idleTimeoutMs are no stall, however long the whole answer takes', async () => {
    const a = memoryProvider({ fallback: { text: 'a slow but steady answer' }, chunkChars: 2, chunkDelayMs: 300 });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 1_000, idleTimeoutMs: 400 }] });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe('a slow but steady answer');
  });
});

describe('a failure after the first token', () => {
  it("midStream 'error': the stream ends with StreamInterruptedError after what was delivered; no other model is asked", async () => {
    const a = memoryProvider({ fallback: { kind: 'cut', text: FULL, afterChars: 15, status: 502 }, chunkChars: 5 });
    const b = memoryProvider({ fallback: { text: FULL } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b, prefill: true }] });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(deltas.join('')).toBe(FULL.slice(0, 15));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(error).toMatchObject({ deliveredChars: 15, status: 502 });
    expect(b.calls).toHaveLength(0);
    await expect(s.result).rejects.toBeInstanceOf(StreamInterruptedError);
  });

  it("midStream 'continue': the next model with prefill continues the partial answer; models without prefill are passed over", async () => {
    const a = memoryProvider({ fallback: { kind: 'cut', text: FULL, afterChars: 15, status: 502 }, chunkChars: 5 });
    const b = memoryProvider({ fallback: { text: 'I would start over.' } });
    const c = memoryProvider({
      fallback: {
        text: (call) => {
          const last = call.messages[call.messages.length - 1];
          return last.role === 'assistant' && typeof last.content === 'string' && FULL.startsWith(last.content) ? FULL.slice(last.content.length) : 'unexpected request';
        },
        usage: { promptTokens: 20, completionTokens: 9 },
      },
      chunkChars: 6,
    });
    const e = start({
      cache: false,
      midStream: 'continue',
      models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }, { name: 'c', model: 'c', provider: c, prefill: true }],
    });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe(FULL);
    const r = await s.result;
    expect(r).toMatchObject({ text: FULL, resumed: true, model: 'c' });
    expect(r.usage).toMatchObject({ promptTokens: 20, completionTokens: 9 });
    expect(b.calls).toHaveLength(0);
    expect(c.calls).toHaveLength(1);
    expect(c.calls[0].messages).toEqual([
      { role: 'user', content: 'tell me' },
      { role: 'assistant', content: FULL.slice(0, 15) },
    ]);
  });

  it("midStream 'continue': a continuation that starts over is invalid (counted), never delivered; with no other prefill model, StreamInterruptedError", async () => {
    const a = memoryProvider({ fallback: { kind: 'cut', text: FULL, afterChars: 20, status: 502 }, chunkChars: 5 });
    const c = memoryProvider({ fallback: { text: FULL } });
    const e = start({ cache: false, midStream: 'continue', models: [{ name: 'a', model: 'a', provider: a }, { name: 'c', model: 'c', provider: c, prefill: true }] });
    const s = e.stream(ask());
    const { deltas, error } = await read(s);
    expect(deltas.join('')).toBe(FULL.slice(0, 20));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(outcomes((error as StreamInterruptedError).attempts)).toEqual(['a:error', 'c:invalid']);
    expect(c.calls).toHaveLength(1);
    expect(e.status().models[1].failures).toBe(1);
  });

  it("midStream 'continue' needs a prefill model after the first: a ConfigError at start-up otherwise", () => {
    expect(() => createEngine({ midStream: 'continue', models: [{ name: 'a', model: 'a', provider: memoryProvider(), prefill: true }, { name: 'b', model: 'b', provider: memoryProvider() }] })).toThrow(ConfigError);
  });

  it('breaking out of the loop aborts the provider\'s call and is not counted against the model', async () => {
    const a = memoryProvider({ fallback: { text: 'a long answer that goes on' }, chunkChars: 3, chunkDelayMs: 50 });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }] });
    const s = e.stream(ask());
    const got = await drive(
      (async () => {
        for await (const d of s) return d;
        return null;
      })(),
    );
    expect(got).toBe('a l');
    await jest.advanceTimersByTimeAsync(0);
    expect(a.calls[0].aborted).toBe(true);
    await expect(s.result).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
    expect(e.status().models[0]).toMatchObject({ failures: 0 });
  });
});

describe('streams and the cache', () => {
  it('a completed stream is cached; an identical stream is replayed from the cache, and complete() hits it too', async () => {
    const a = memoryProvider({ fallback: { text: 'cached stream answer' }, chunkChars: 4 });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    await read(e.stream(ask()));
    const replay = e.stream(ask());
    const { deltas } = await read(replay);
    expect(deltas.join('')).toBe('cached stream answer');
    expect(await replay.result).toMatchObject({ cached: true, model: 'a', firstTokenMs: null, attempts: [] });
    expect((await drive(e.complete(ask()))).cached).toBe(true);
    expect(a.calls).toHaveLength(1);
  });

  it('an answer from complete() is replayed to a stream', async () => {
    const a = memoryProvider({ fallback: { text: 'from complete' } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(e.complete(ask()));
    const s = e.stream(ask());
    expect((await read(s)).deltas.join('')).toBe('from complete');
    expect((await s.result).cached).toBe(true);
    expect(a.calls).toHaveLength(1);
  });

  it('an interrupted stream is not cached', async () => {
    const a = memoryProvider({ steps: [{ kind: 'cut', text: FULL, afterChars: 10, status: 502 }], fallback: { text: FULL } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    expect((await read(e.stream(ask()))).error).toBeInstanceOf(StreamInterruptedError);
    const s = e.stream(ask());
    expect((await read(s)).deltas.join('')).toBe(FULL);
    expect((await s.result).cached).toBe(false);
    expect(a.calls).toHaveLength(2);
  });
});
