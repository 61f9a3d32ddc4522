/**
 * `midStream: 'continue'` over real HTTP: only a model declared `prefill: true` continues an interrupted answer, it is
 * sent the partial answer as a trailing assistant message and nothing else, and a continuation that starts the answer
 * over is never delivered nor reported as a success. Also through the OpenAI-compatible gateway's stream.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import OpenAI from 'openai';
import { ConfigError, createEngine, llmResilience, type LlmResilienceMiddleware, openAICompatibleRouter, StreamInterruptedError } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';

let fake: FakeLlm;
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(() => fake.close());

const ANSWER = 'Once upon a time a small fox lived at the edge of a quiet forest, and every morning she walked down to the river to drink.';
const m = (name: string, model: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ name, model, baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, firstTokenTimeoutMs: 500, idleTimeoutMs: 300, ...extra });
const opts = (extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions => ({
  models: [m('smart', 'big'), m('fast', 'small', { prefill: true })],
  cache: false,
  midStream: 'continue',
  ...extra,
});
let n = 0;
const ask = (extra = {}) => ({ messages: [{ role: 'user' as const, content: `tell me a story number ${++n}` }], ...extra });

/** Reads a stream to its end: the deltas delivered, and the result or the error it ended with. */
async function drain(s: AsyncIterable<string> & { result: Promise<unknown> }): Promise<{ text: string; deltas: string[]; error: unknown; result: unknown }> {
  const deltas: string[] = [];
  let error: unknown;
  try {
    for await (const d of s) deltas.push(d);
  } catch (e) {
    error = e;
  }
  const result = error === undefined ? await s.result : undefined;
  return { text: deltas.join(''), deltas, error, result };
}

/** How many times the answer's opening words were delivered. */
const openings = (text: string): number => text.split('Once upon a time').length - 1;

describe("midStream: 'continue'", () => {
  it('a next model that ignores the prefill and answers from the start is never spliced in: the stream ends with StreamInterruptedError', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    // declared able to continue, but answers anew (as OpenAI's own API does with a trailing assistant message)
    fake.setBehavior('small', { text: ANSWER, prefill: 'ignore' });
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const { text, error } = await drain(s);
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(openings(text)).toBe(1);
    expect(ANSWER.startsWith(text)).toBe(true); // only the first model's part, nothing of the restart
    expect((error as StreamInterruptedError).deliveredChars).toBe(text.length);
    expect((error as StreamInterruptedError).message).toMatch(/no later model can continue an answer/);
    expect((error as StreamInterruptedError).attempts.map((a) => [a.model, a.outcome, a.message])).toEqual([
      ['smart', 'error', expect.any(String)],
      ['fast', 'invalid', 'the continuation repeated the answer (started it over) instead of continuing it'],
    ]);
    await expect(s.result).rejects.toBeInstanceOf(StreamInterruptedError);
    // the restarting model is sent the partial answer as a trailing assistant message and no instruction after it
    const sent = fake.requests('small')[0].body.messages as { role: string; content: string }[];
    expect(sent.at(-1)).toEqual({ role: 'assistant', content: text });
    expect(sent.filter((x) => x.role === 'user')).toHaveLength(1);
    await engine.close();
  });

  it.each([
    ['re-spaced and re-cased', ANSWER.toUpperCase().replace(/ /g, '  ')],
    ['after a preamble', `Sure! Here is the story again: ${ANSWER}`],
    ['in another Unicode spelling (full-width letters, NFKC-equal)', ANSWER.replace('Once upon', 'Ｏｎｃｅ ｕｐｏｎ')],
  ])('a restart %s is caught too, and nothing of it reaches the client', async (_label, restart) => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: restart });
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const { text, error } = await drain(s);
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(ANSWER.startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(0);
    await engine.close();
  });

  it('a continuation that goes back to the start of the sentence and says it again is not spliced in either', async () => {
    // the partial answer: "Once upon a time a small fox lived at the edge of a quiet "
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 14, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER.slice(ANSWER.indexOf('a small fox')) });
    const engine = createEngine(opts());
    const { text, error } = await drain(engine.stream(ask()));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(text).toBe('Once upon a time a small fox lived at the edge of a quiet ');
    expect(fake.requests('small')[0].body.messages).toContainEqual({ role: 'assistant', content: text });
    await engine.close();
  });

  it('a short restart that ends before the check window is full is caught at its end', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 8, text: ANSWER });
    fake.setBehavior('small', { text: 'Once upon a time a small' });
    const engine = createEngine(opts());
    const { text, error } = await drain(engine.stream(ask()));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(openings(text)).toBe(1);
    await engine.close();
  });

  describe('a short partial answer (under 12 normalised characters) restarted after a preamble', () => {
    const GREETING = 'Hello world, how are you today? I hope the weather is kind to you and your garden.';
    // the upstream ignores the prefill and answers from the start, after a preamble
    const RESTART = `Sorry, here is the full answer again: ${GREETING}`;

    it('is never spliced in: the stream ends with StreamInterruptedError, the beginning delivered once', async () => {
      fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2, text: GREETING }); // "Hello world, "
      fake.setBehavior('small', { text: RESTART, prefill: 'ignore' });
      const engine = createEngine(opts());
      const s = engine.stream(ask());
      const { text, error } = await drain(s);
      expect(text).toBe('Hello world, ');
      expect(error).toBeInstanceOf(StreamInterruptedError);
      expect((error as StreamInterruptedError).attempts.map((a) => [a.model, a.outcome, a.message])).toEqual([
        ['smart', 'error', expect.any(String)],
        ['fast', 'invalid', 'the continuation repeated the answer (started it over) instead of continuing it'],
      ]);
      await expect(s.result).rejects.toBeInstanceOf(StreamInterruptedError);
      expect(fake.requests('small')[0].body.messages).toContainEqual({ role: 'assistant', content: 'Hello world, ' });
      await engine.close();
    });

    it('falls through to the next model with prefill, which continues: the answer whole, once, finish stop', async () => {
      fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2, text: GREETING });
      fake.setBehavior('small', { text: RESTART, prefill: 'ignore' });
      fake.setBehavior('third', { text: GREETING, prefill: 'continue' });
      const engine = createEngine(opts({ models: [m('smart', 'big'), m('fast', 'small', { prefill: true }), m('vllm', 'third', { prefill: true })] }));
      const { text, error, result } = await drain(engine.stream(ask()));
      expect(error).toBeUndefined();
      expect(text).toBe(GREETING);
      expect(result).toMatchObject({ model: 'vllm', resumed: true, finishReason: 'stop' });
      expect((result as { attempts: { model: string; outcome: string }[] }).attempts.map((a) => `${a.model}:${a.outcome}`)).toEqual(['smart:error', 'fast:invalid', 'vllm:success']);
      await engine.close();
    });

    it('through the OpenAI-compatible gateway: an in-stream error and no [DONE], the beginning once', async () => {
      fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2, text: GREETING });
      fake.setBehavior('small', { text: RESTART, prefill: 'ignore' });
      const llm = llmResilience(opts());
      const app = new Koa();
      app.silent = true;
      app.use(openAICompatibleRouter({ apiKeys: ['gateway-token-0123'], llm }).routes());
      const server = http.createServer(app.callback());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer gateway-token-0123', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'default', stream: true, messages: ask().messages }),
        });
        const body = await res.text();
        let text = '';
        for (const line of body.split('\n')) {
          if (!line.startsWith('data: {')) continue;
          text += (JSON.parse(line.slice(6)) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '';
        }
        expect(text).toBe('Hello world, ');
        expect(body).toMatch(/"code":"stream_interrupted"/);
        expect(body).not.toMatch(/\[DONE\]/);
        expect(body).not.toMatch(/"finish_reason":"stop"/);
      } finally {
        await llm.close();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });

  it('a model that honours the prefill continues the answer: the joined text is whole, once, with resumed: true', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER, prefill: 'continue' });
    const engine = createEngine(opts());
    const s = engine.stream(ask());
    const { text, error, result } = await drain(s);
    expect(error).toBeUndefined();
    expect(text).toBe(ANSWER);
    expect(result).toMatchObject({ text: ANSWER, model: 'fast', resumed: true, fallback: true, finishReason: 'stop' });
    const sent = fake.requests('small')[0].body.messages as { role: string; content: string }[];
    expect(sent).toHaveLength(2);
    expect(sent[1].role).toBe('assistant');
    expect(ANSWER.startsWith(sent[1].content)).toBe(true);
    expect(sent[1].content.length).toBeGreaterThan(10);
    await engine.close();
  });

  it('models without prefill are passed over for a continuation; the next one with it continues', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER });
    fake.setBehavior('third', { text: ANSWER, prefill: 'continue' });
    const engine = createEngine(opts({ models: [m('smart', 'big'), m('fast', 'small'), m('vllm', 'third', { prefill: true })] }));
    const { text, result } = await drain(engine.stream(ask()));
    expect(text).toBe(ANSWER);
    expect(result).toMatchObject({ model: 'vllm', resumed: true });
    expect(fake.stats('small').requests).toBe(0);
    await engine.close();
  });

  it('with no model able to continue for this call, the stream ends with an error that says so', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 3, text: ANSWER });
    const engine = createEngine(opts({ models: [m('smart', 'big'), m('fast', 'small', { prefill: true }), m('plain', 'other')] }));
    // this call's chain has no model with prefill after the first
    const { error } = await drain(engine.stream(ask({ models: ['smart', 'plain'] })));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect((error as Error).message).toMatch(/no later model can continue an answer/);
    expect(fake.stats('other').requests).toBe(0);
    await engine.close();
  });

  it('a per-call midStream: continue uses only models with prefill too', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 4, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER });
    const engine = createEngine({ models: [m('smart', 'big'), m('fast', 'small')], cache: false });
    const { text, error } = await drain(engine.stream(ask({ midStream: 'continue' })));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(openings(text)).toBe(1);
    expect(fake.stats('small').requests).toBe(0);
    await engine.close();
  });

  it('the schema and validate hook judge the whole joined answer, once, before success', async () => {
    const json = JSON.stringify({ title: 'The fox and the river', lines: ['Once upon a time', 'a small fox', 'walked to the river'] });
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 4, text: json.replace(/,/g, ', ') });
    fake.setBehavior('small', { text: json.replace(/,/g, ', '), prefill: 'continue' });
    const seen: string[] = [];
    const engine = createEngine(opts());
    const schema = { type: 'object', required: ['title', 'lines'], properties: { title: { type: 'string' }, lines: { type: 'array' } } };
    const s = engine.stream(
      ask({
        schema,
        validate: (r: { text: string }) => {
          seen.push(r.text);
          return true;
        },
      }),
    );
    const { text, result } = await drain(s);
    expect(text).toBe(json.replace(/,/g, ', '));
    expect(seen).toEqual([text]);
    expect(result).toMatchObject({ resumed: true, json: JSON.parse(json) });
    await engine.close();
  });

  it('a joined answer the validate hook rejects ends the stream with StreamInterruptedError, not a success, and is not continued again', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER, prefill: 'continue' });
    fake.setBehavior('third', { text: ANSWER, prefill: 'continue' });
    const engine = createEngine(opts({ models: [m('smart', 'big'), m('fast', 'small', { prefill: true }), m('vllm', 'third', { prefill: true })] }));
    const { text, error } = await drain(engine.stream(ask({ validate: (r: { text: string }) => !r.text.includes('river') })));
    // what was delivered is the answer's beginning, once (the rest may still have been held back when it was judged)
    expect(ANSWER.startsWith(text)).toBe(true);
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect((error as Error).message).toMatch(/failed its checks/);
    expect((error as StreamInterruptedError).attempts.at(-1)).toMatchObject({ model: 'fast', outcome: 'invalid', message: 'validate() rejected the answer' });
    expect(fake.stats('third').requests).toBe(0);
    await engine.close();
  });

  it('a first answer the validate hook rejects is not continued either', async () => {
    fake.setBehavior('big', { text: ANSWER });
    const engine = createEngine(opts());
    const { error } = await drain(engine.stream(ask({ validate: () => false })));
    expect(error).toBeInstanceOf(StreamInterruptedError);
    expect(fake.stats('small').requests).toBe(0);
    await engine.close();
  });

  it('a continuation that starts over counts as a failure of that model (its breaker)', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER });
    const engine = createEngine(opts({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } }));
    await drain(engine.stream(ask()));
    expect(engine.status().models.find((x) => x.name === 'fast')).toMatchObject({ state: 'open' });
    await engine.close();
  });
});

describe('options', () => {
  it("midStream: 'continue' without a later model with prefill: true is a ConfigError naming the field", () => {
    let err: unknown;
    try {
      createEngine({ models: [m('smart', 'big', { prefill: true }), m('fast', 'small')], midStream: 'continue' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([expect.objectContaining({ path: '/midStream', message: expect.stringMatching(/prefill: true/) })]);
  });

  it.each([['yes'], [1], [null]])('prefill must be a boolean (%p is refused, naming the field; true and false are taken)', async (v) => {
    expect(() => createEngine({ models: [m('smart', 'big', { prefill: v as never })] })).toThrow(/\/models\/0\/prefill: must be boolean/);
    for (const ok of [true, false]) await createEngine({ models: [m('smart', 'big', { prefill: ok })] }).close();
  });
});

describe('through ctx.llm.sse', () => {
  it('a restarting continuation ends with an error event and no done event; the beginning is sent once', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER });
    const llm = llmResilience(opts());
    const app = new Koa();
    app.silent = true;
    app.use(llm);
    app.use(async (ctx) => {
      await ctx.llm.sse(ask());
    });
    const server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST' });
      const body = await res.text();
      const deltas = [...body.matchAll(/^event: delta\ndata: (.*)$/gm)].map((x) => (JSON.parse(x[1]) as { text: string }).text).join('');
      expect(openings(deltas)).toBe(1);
      expect(body).toMatch(/^event: error\ndata: .*"code":"STREAM_INTERRUPTED"/m);
      expect(body).not.toMatch(/^event: done/m);
    } finally {
      await llm.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('through the OpenAI-compatible gateway (stream: true)', () => {
  let llm: LlmResilienceMiddleware;
  let server: http.Server;
  let base: string;

  beforeEach(async () => {
    llm = llmResilience(opts());
    const app = new Koa();
    app.silent = true;
    const router = openAICompatibleRouter({ apiKeys: ['gateway-token-0123'], llm });
    app.use(router.routes());
    server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterEach(async () => {
    await llm.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function raw(): Promise<{ text: string; body: string }> {
    const res = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer gateway-token-0123', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'default', stream: true, messages: ask().messages }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    let text = '';
    for (const line of body.split('\n')) {
      if (!line.startsWith('data: {')) continue;
      const chunk = JSON.parse(line.slice(6)) as { choices?: { delta?: { content?: string } }[] };
      text += chunk.choices?.[0]?.delta?.content ?? '';
    }
    return { text, body };
  }

  it('a restarting continuation ends the stream with an in-stream error and no [DONE]; the beginning is sent once', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER });
    const { text, body } = await raw();
    expect(openings(text)).toBe(1);
    expect(body).toMatch(/"code":"stream_interrupted"/);
    expect(body).not.toMatch(/\[DONE\]/);
    expect(body).not.toMatch(/"finish_reason":"stop"/);
    // the official SDK, as a client, throws rather than ending cleanly
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    const sdk = new OpenAI({ baseURL: base, apiKey: 'gateway-token-0123', maxRetries: 0 });
    const stream = await sdk.chat.completions.create({ model: 'default', messages: ask().messages, stream: true });
    let got = '';
    await expect(
      (async () => {
        for await (const c of stream) got += c.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow();
    expect(openings(got)).toBe(1);
  });

  it('a prefill continuation streams the whole answer once and ends with [DONE]', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 6, text: ANSWER });
    fake.setBehavior('small', { text: ANSWER, prefill: 'continue' });
    const { text, body } = await raw();
    expect(text).toBe(ANSWER);
    expect(body).toMatch(/"finish_reason":"stop"/);
    expect(body).toMatch(/data: \[DONE\]/);
  });
});
