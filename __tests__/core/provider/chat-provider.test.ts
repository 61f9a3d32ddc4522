/**
 * A user-written ChatProvider takes part in every behaviour of the chain, through a Koa route over real HTTP:
 * fallback to and from it, timeouts that abort its signal, breaker open/probe/close, 429 cool-downs from a thrown
 * status, caching and single-flight, streaming, events, cost; and bad providers are refused at start-up.
 */
import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { ConfigError, llmResilience, type ChatProvider, type LlmResilienceMiddleware, type ProviderStreamPart } from '../../../lib';
import { memoryProvider, startFakeLlm, type FakeLlm, type MemoryProvider } from '../../../lib/testing';
import type { AttemptRecord, CompletionRequest } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { listen, type Listening, readJson, sleep, waitFor } from '../../helpers/app';

let fake: FakeLlm;
let llm: LlmResilienceMiddleware | null = null;
let server: Listening | null = null;
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(async () => {
  await llm?.close();
  await server?.close();
  llm = null;
  server = null;
  await fake.close();
});

/** An app whose POST /complete and POST /stream (SSE) hand the body to ctx.llm. */
async function start(options: LlmResilienceOptions): Promise<string> {
  llm = llmResilience(options);
  const app = new Koa();
  app.use(llm);
  const router = new Router();
  router.post('/complete', async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest);
  });
  router.post('/stream', async (ctx) => ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest));
  app.use(router.routes());
  server = await listen(app);
  return server.url;
}
const ask = (content = 'hello', extra: Partial<CompletionRequest> = {}) => ({ messages: [{ role: 'user', content }], ...extra });
const openaiModel = () => ({ name: 'fake', model: 'fake-model', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 });
const outcomes = (attempts: AttemptRecord[]) => attempts.map((a) => `${a.model}:${a.outcome}`);

describe('a ChatProvider in the chain', () => {
  it('answers first; when it fails (500) the OpenAI-compatible model answers, and the other way round', async () => {
    const own = memoryProvider({ steps: [{ kind: 'fail', status: 500 }], fallback: { text: 'from my service' } });
    // fallback alone: no same-model retry of the 500
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()], cache: false, retry: false });
    const failed = await request(url).post('/complete').send(ask()).expect(200);
    expect(failed.body).toMatchObject({ model: 'fake', fallback: true });
    expect(outcomes(failed.body.attempts)).toEqual(['mine:error', 'fake:success']);
    const ok = await request(url).post('/complete').send(ask('again')).expect(200);
    expect(ok.body).toMatchObject({ model: 'mine', text: 'from my service', providerModel: 'my-model', fallback: false });
    expect(own.calls.map((c) => [c.model, c.name])).toEqual([['my-model', 'mine'], ['my-model', 'mine']]);
    expect(fake.requests('fake-model')).toHaveLength(1);
  });

  it('is the fallback of an OpenAI-compatible model that fails, and gets the request parameters', async () => {
    fake.setBehavior('fake-model', { mode: 'error' });
    const own = memoryProvider();
    const url = await start({ models: [openaiModel(), { name: 'mine', model: 'my-model', provider: own, maxOutputTokens: 50 }], cache: false });
    const r = await request(url).post('/complete').send(ask('hi', { temperature: 0.3, topP: 0.9, stop: ['END'], seed: 7, maxTokens: 500 })).expect(200);
    expect(r.body).toMatchObject({ model: 'mine', text: 'answer from my-model', fallback: true });
    expect(own.calls[0]).toMatchObject({ maxTokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  });

  it('a timeout aborts its signal: the call ends as aborted and the next model answers', async () => {
    const own = memoryProvider({ fallback: { kind: 'hang' } });
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own, timeoutMs: 150 }, openaiModel()], cache: false, adaptiveTimeout: false });
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(outcomes(r.body.attempts)).toEqual(['mine:timeout', 'fake:success']);
    expect(own.calls[0]).toMatchObject({ state: 'aborted', aborted: true });
    expect(own.inFlight).toBe(0);
  });

  it('a provider that ignores its signal still times out, and the chain goes on', async () => {
    const deaf: ChatProvider = { complete: () => new Promise(() => undefined) };
    const url = await start({ models: [{ name: 'deaf', model: 'd', provider: deaf, timeoutMs: 150 }, openaiModel()], cache: false, adaptiveTimeout: false });
    const t0 = Date.now();
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(outcomes(r.body.attempts)).toEqual(['deaf:timeout', 'fake:success']);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('its failures open its breaker (no more calls), one probe after the reset closes it', async () => {
    const own = memoryProvider({ fallback: { kind: 'fail', status: 503 } });
    const url = await start({
      models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()],
      cache: false,
      breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 300 },
    });
    for (let i = 0; i < 3; i++) await request(url).post('/complete').send(ask(`q${i}`)).expect(200);
    expect(llm!.status().models[0].state).toBe('open');
    const open = await request(url).post('/complete').send(ask('while open')).expect(200);
    expect(outcomes(open.body.attempts)).toEqual(['mine:circuit_open', 'fake:success']);
    expect(own.calls).toHaveLength(3);
    own.setFallback({ text: 'recovered' });
    await sleep(350);
    const probe = await request(url).post('/complete').send(ask('probe')).expect(200);
    expect(probe.body).toMatchObject({ model: 'mine', text: 'recovered' });
    expect(llm!.status().models[0].state).toBe('closed');
  });

  it('a thrown { status: 429, retryAfterMs } cools it down for that long: skipped without a call, then called again', async () => {
    const own = memoryProvider({ steps: [{ kind: 'fail', status: 429, retryAfterMs: 400 }], fallback: { text: 'mine again' } });
    // the cool-down alone: no same-model retry after the retry-after
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()], cache: false, retry: false });
    const limited = await request(url).post('/complete').send(ask('a')).expect(200);
    expect(outcomes(limited.body.attempts)).toEqual(['mine:rate_limited', 'fake:success']);
    const until = llm!.status().models[0].cooldownUntil as number;
    expect(until - Date.now()).toBeGreaterThan(200);
    expect(until - Date.now()).toBeLessThanOrEqual(450);
    const skipped = await request(url).post('/complete').send(ask('b')).expect(200);
    expect(skipped.body.attempts[0]).toMatchObject({ model: 'mine', outcome: 'rate_limited', latencyMs: 0 });
    expect(own.calls).toHaveLength(1);
    expect(llm!.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    await sleep(450);
    expect((await request(url).post('/complete').send(ask('c')).expect(200)).body).toMatchObject({ model: 'mine', text: 'mine again' });
  });

  it('a 400 it throws is the caller\'s fault: 400, nothing else tried, its breaker untouched', async () => {
    const own = memoryProvider({ fallback: { kind: 'fail', status: 400 } });
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()], cache: false });
    const r = await request(url).post('/complete').send(ask()).expect(400);
    expect(r.body.error).toMatchObject({ code: 'UPSTREAM_REJECTED_REQUEST' });
    expect(fake.requests('fake-model')).toHaveLength(0);
    expect(llm!.status().models[0].failures).toBe(0);
  });

  it('an answer that is not an answer is a failed attempt (invalid), never a success', async () => {
    const garbage: ChatProvider = { complete: async () => ({ text: 42, finishReason: 'stop' }) as never };
    const url = await start({ models: [{ name: 'bad', model: 'b', provider: garbage }, openaiModel()], cache: false });
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(outcomes(r.body.attempts)).toEqual(['bad:invalid', 'fake:success']);
  });

  it('is cached and single-flight: identical concurrent requests make one call, a later one is a hit', async () => {
    const own = memoryProvider({ fallback: { text: 'shared', latencyMs: 100 } });
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }] });
    const [a, b] = await Promise.all([request(url).post('/complete').send(ask('same')), request(url).post('/complete').send(ask('same'))]);
    expect([a.body.text, b.body.text]).toEqual(['shared', 'shared']);
    const c = await request(url).post('/complete').send(ask('same')).expect(200);
    expect(c.body.cached).toBe(true);
    expect(own.calls).toHaveLength(1);
  });

  it('streams its parts; a provider without stream() is streamed as one piece; a cut mid-stream ends with an error', async () => {
    const parts = memoryProvider({ fallback: { text: 'streamed from my service' }, chunkChars: 5 });
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: parts }], cache: false });
    const sse = await request(url).post('/stream').send(ask()).buffer(true).parse((res, cb) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => cb(null, s));
    });
    const deltas = [...(sse.body as string).matchAll(/event: delta\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]).text as string);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('streamed from my service');
    await llm!.close();
    await server!.close();

    const whole = memoryProvider({ fallback: { text: 'all at once' }, streams: false });
    const url2 = await start({ models: [{ name: 'whole', model: 'w', provider: whole }], cache: false });
    const r = await fetch(`${url2}/stream`, { method: 'POST', body: JSON.stringify(ask()) }).then((x) => x.text());
    expect(r).toContain('all at once');
    expect(r).toMatch(/event: done/);
    await llm!.close();
    await server!.close();

    const cut = memoryProvider({ fallback: { kind: 'cut', text: 'this answer is cut', afterChars: 8, status: 502 }, chunkChars: 4 });
    const url3 = await start({ models: [{ name: 'cut', model: 'c', provider: cut }], cache: false });
    const r3 = await fetch(`${url3}/stream`, { method: 'POST', body: JSON.stringify(ask()) }).then((x) => x.text());
    expect(r3).toMatch(/event: error/);
    expect(r3).not.toMatch(/event: done/);
  });

  it('emits the same events, counts spend and cost from its usage', async () => {
    const own = memoryProvider({ fallback: { text: 'priced', usage: { promptTokens: 1000, completionTokens: 2000 } } });
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own, price: { inputPerMTok: 1, outputPerMTok: 2 } }], cache: false });
    const seen: string[] = [];
    llm!.on('attempt', (e) => seen.push(`${e.model}:${e.outcome}`));
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(r.body.usage).toMatchObject({ promptTokens: 1000, completionTokens: 2000, totalTokens: 3000, costUsd: 0.005 });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['mine:success']);
    expect(llm!.status().models[0].spend).toMatchObject({ requests: 1, promptTokens: 1000, completionTokens: 2000 });
  });

  it('close() closes the providers that have close()', async () => {
    let closed = 0;
    const own: ChatProvider = { complete: async () => ({ text: 'x', finishReason: 'stop' }), close: () => void closed++ };
    await start({ models: [{ name: 'a', model: 'a', provider: own }, { name: 'b', model: 'b', provider: own }] });
    await llm!.close();
    llm = null;
    expect(closed).toBe(1);
  });
});

describe('a ChatProvider that breaks the answer protocol', () => {
  /** A provider whose stream yields `parts` as they are (its complete() is never called for a stream). */
  const streaming = (parts: unknown[]): ChatProvider & { calls: number } => {
    const p = {
      calls: 0,
      complete: async () => {
        throw new Error('not called');
      },
      async *stream() {
        p.calls++;
        for (const part of parts) yield part as ProviderStreamPart;
      },
    };
    return p;
  };
  /** POST /stream: the SSE events' names and data. */
  const sse = async (url: string): Promise<{ deltas: string; events: { event: string; data: Record<string, unknown> }[] }> => {
    const body = await fetch(`${url}/stream`, { method: 'POST', body: JSON.stringify(ask('tell me')) }).then((x) => x.text());
    const events = [...body.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) as Record<string, unknown> }));
    return { deltas: events.filter((e) => e.event === 'delta').map((e) => e.data.text as string).join(''), events };
  };
  const attemptsSeen = (): string[] => {
    const seen: string[] = [];
    llm!.on('attempt', (e) => seen.push(`${e.model}:${e.outcome}:${e.message ?? ''}`));
    return seen;
  };

  it.each([
    ['a text part', { type: 'text', text: ' and a tail after the end' }],
    ['an empty text part', { type: 'text', text: '' }],
    ['a second finish part', { type: 'finish', finishReason: 'stop' }],
  ])('%s after its finish part, before any text: the attempt fails (invalid, counted) and the next model answers', async (_label, late) => {
    fake.setBehavior('fake-model', { text: 'from the fallback model' });
    const own = streaming([{ type: 'finish', finishReason: 'stop' }, late]);
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()], cache: false });
    const seen = attemptsSeen();
    const { deltas, events } = await sse(url);
    expect(deltas).toBe('from the fallback model');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { model: 'fake', fallback: true, finishReason: 'stop' } });
    expect((events.at(-1)!.data.attempts as { model: string; outcome: string }[]).map((a) => `${a.model}:${a.outcome}`)).toEqual(['mine:invalid', 'fake:success']);
    await waitFor(() => seen.length === 2);
    expect(seen[0]).toBe('mine:invalid:the provider streamed a part after its finish part');
    expect(llm!.status().models[0].failures).toBe(1); // a malformed answer: the provider's failure
  });

  it('text after its finish part, once the answer has started: nothing after the finish reaches the client, the stream ends with an error', async () => {
    const own = streaming([{ type: 'text', text: 'Hello there.' }, { type: 'finish', finishReason: 'stop' }, { type: 'text', text: ' SECRET TAIL' }, { type: 'finish', finishReason: 'stop' }]);
    const url = await start({ models: [{ name: 'mine', model: 'my-model', provider: own }, openaiModel()], cache: false });
    const seen = attemptsSeen();
    const { deltas, events } = await sse(url);
    expect(deltas).toBe('Hello there.');
    expect(events.map((e) => e.event)).not.toContain('done');
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'STREAM_INTERRUPTED' } });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['mine:invalid:the provider streamed a part after its finish part']);
    expect(llm!.status().models[0].failures).toBe(1);
    // and nothing is cached from it
    const again = await sse(url);
    expect(again.deltas).toBe('Hello there.');
    expect(own.calls).toBe(2);
  });

  it.each([['end_turn'], ['STOP'], [' stop'], ['stopped'], ['max_tokens'], [42], [{}]])(
    'an unknown finish reason (%p) is a failed attempt (invalid, counted), streamed or not, with stream() or without',
    async (reason) => {
      fake.setBehavior('fake-model', { text: 'from the fallback model' });
      const whole: ChatProvider = { complete: async () => ({ text: 'my answer', finishReason: reason as 'stop' }) };
      const streamed: ChatProvider = { complete: whole.complete, stream: streaming([{ type: 'text', text: 'my answer' }, { type: 'finish', finishReason: reason }]).stream };
      const url = await start({
        models: [
          { name: 'streamed', model: 's', provider: streamed },
          { name: 'whole', model: 'w', provider: whole },
          openaiModel(),
        ],
        cache: false,
      });
      const seen = attemptsSeen();
      // a stream: the text came before the finish part and was delivered; the stream then fails, never a success
      const first = await sse(url);
      expect(first.deltas).toBe('my answer');
      expect(first.events.at(-1)).toMatchObject({ event: 'error' });
      await waitFor(() => seen.length === 1);
      expect(seen[0]).toMatch(/^streamed:invalid:the provider streamed a finish reason that is not one of stop, length, content_filter, tool_calls, function_call$/);
      // complete(): both providers fail and the OpenAI-compatible model answers
      const r = await request(url).post('/complete').send(ask('complete me')).expect(200);
      expect(r.body).toMatchObject({ model: 'fake', text: 'from the fallback model', fallback: true });
      expect(outcomes(r.body.attempts)).toEqual(['streamed:invalid', 'whole:invalid', 'fake:success']);
      expect(r.body.attempts[1].message).toBe('the provider answered a finish reason that is not one of stop, length, content_filter, tool_calls, function_call');
      expect(llm!.status().models.map((x) => x.failures)).toEqual([2, 1, 0]);
    },
  );

  it('an unknown finish reason from a provider streamed as one piece (no stream()) fails before any text: the next model streams', async () => {
    fake.setBehavior('fake-model', { text: 'from the fallback model' });
    const whole: ChatProvider = { complete: async () => ({ text: 'my answer', finishReason: 'end_turn' as 'stop' }) };
    const url = await start({ models: [{ name: 'whole', model: 'w', provider: whole }, openaiModel()], cache: false });
    const { deltas, events } = await sse(url);
    expect(deltas).toBe('from the fallback model');
    expect((events.at(-1)!.data.attempts as { model: string; outcome: string }[]).map((a) => `${a.model}:${a.outcome}`)).toEqual(['whole:invalid', 'fake:success']);
  });

  it('finish reason tool_calls without any tool call is a malformed answer, streamed and not: the next model answers', async () => {
    fake.setBehavior('fake-model', { text: 'from the fallback model' });
    const streamed = streaming([{ type: 'text', text: 'my answer' }, { type: 'finish', finishReason: 'tool_calls' }]);
    const mine: ChatProvider = { complete: async () => ({ text: 'my answer', finishReason: 'tool_calls' }), stream: streamed.stream };
    const url = await start({ models: [{ name: 'mine', model: 'm', provider: mine }, openaiModel()], cache: false });
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(r.body).toMatchObject({ model: 'fake', text: 'from the fallback model' });
    expect(r.body.attempts[0]).toMatchObject({ model: 'mine', outcome: 'invalid', message: 'finish reason tool_calls without any tool call' });
  });

  it.each([['stop'], ['function_call']] as const)('a declared finish reason (%s) is taken, streamed and not', async (reason) => {
    const streamed = streaming([{ type: 'text', text: 'my answer' }, { type: 'finish', finishReason: reason }]);
    const url = await start({ models: [{ name: 'mine', model: 'm', provider: { complete: async () => ({ text: 'my answer', finishReason: reason }), stream: streamed.stream } }], cache: false });
    const r = await request(url).post('/complete').send(ask()).expect(200);
    expect(r.body).toMatchObject({ model: 'mine', text: 'my answer', finishReason: reason });
    const { deltas, events } = await sse(url);
    expect(deltas).toBe('my answer');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { model: 'mine', finishReason: reason } });
  });
});

describe('models[].provider options', () => {
  it('a provider that is not "openai" nor a ChatProvider is refused at start-up, naming each', () => {
    let err: unknown;
    try {
      llmResilience({
        models: [
          { model: 'a', provider: {} as ChatProvider },
          { model: 'b', provider: 'mistral' as 'openai' },
          { model: 'c', provider: { complete: async () => ({ text: '', finishReason: 'stop' }), stream: 5 } as unknown as ChatProvider },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.path)).toEqual(['/models/0/provider', '/models/1/provider', '/models/2/provider']);
  });

  it('a chain of its own providers needs no OpenAI key', () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const mw = llmResilience({ models: [{ model: 'a', provider: memoryProvider() }] });
      void mw.close();
      expect(() => llmResilience({ models: [{ model: 'a', provider: memoryProvider() }, { model: 'b' }] })).toThrow(/\/models\/1\/apiKey/);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});
export type { MemoryProvider };
