/**
 * What a single request controls (its maxTokens, stop sequences, schema, validate hook, prompt) is never evidence
 * against the provider: one breaker per model is shared by every tenant. Over real HTTP, through ctx.llm, streams
 * and the OpenAI-compatible gateway, against a provider that honours max_tokens and stop as real ones do.
 */
import Router from '@koa/router';
import fc from 'fast-check';
import Koa from 'koa';
import OpenAI from 'openai';
import request from 'supertest';
import { createEngine, llmResilience, type LlmResilienceMiddleware, openAICompatibleRouter } from '../../../lib';
import type { CompletionRequest, ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { listen, type Listening, readJson, sleep, waitFor } from '../../helpers/app';
import { type HonouringProvider, startHonouringProvider } from '../../helpers/request-honouring-provider';

const TOKEN = 'gateway-token-0123456789';
let provider: HonouringProvider;
let llm: LlmResilienceMiddleware | undefined;
let served: Listening | undefined;

beforeEach(async () => {
  provider = await startHonouringProvider();
});
afterEach(async () => {
  await llm?.close();
  llm = undefined;
  await served?.close();
  served = undefined;
  await provider.close();
});

const smart = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'smart', model: 'big', baseURL: provider.url, apiKey: 'k', timeoutMs: 2000, ...extra });
const fast = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'fast', model: 'small', baseURL: provider.url, apiKey: 'k', timeoutMs: 2000, ...extra });
/** A breaker that opens after 5 counted calls at 50% failures: every flood below is far past it. */
const BREAKER = { volumeThreshold: 5, errorThresholdPercentage: 50, rollingWindowMs: 60_000, resetTimeoutMs: 60_000 };

/** A hook per `x-validate` header (a hook cannot travel in JSON). */
const HOOKS: Record<string, CompletionRequest['validate']> = {
  reject: () => false,
  throw: () => {
    throw new Error('this tenant refuses everything');
  },
  hang: () => new Promise<boolean>(() => undefined),
};

/** A Koa app: the middleware, POST /complete and /stream through ctx.llm, and the gateway. */
async function start(extra: Partial<LlmResilienceOptions> = {}): Promise<void> {
  llm = llmResilience({ models: [smart(), fast()], cache: false, breaker: BREAKER, ...extra });
  const app = new Koa();
  app.use(llm);
  const router = new Router();
  const withHook = (ctx: Koa.ParameterizedContext, body: unknown): CompletionRequest => {
    const hook = HOOKS[ctx.get('x-validate')];
    return hook ? { ...(body as CompletionRequest), validate: hook } : (body as CompletionRequest);
  };
  router.post('/complete', async (ctx) => {
    ctx.body = await ctx.llm.complete(withHook(ctx, await readJson(ctx.req)));
  });
  router.post('/stream', async (ctx) => {
    const r = await ctx.llm.stream(withHook(ctx, await readJson(ctx.req))).final();
    ctx.body = r;
  });
  const gateway = openAICompatibleRouter({ apiKeys: [TOKEN] });
  app.use(router.routes()).use(gateway.routes()).use(gateway.allowedMethods());
  served = await listen(app);
}

const post = (path: string, tenant: string, body: Record<string, unknown>, validate?: string) => {
  const r = request(served!.server).post(path).set('x-tenant', tenant);
  if (validate) r.set('x-validate', validate);
  return r.send(body);
};
const breakerOf = (name: string) => llm!.status().models.find((m) => m.name === name)!;
const gateway = () => new OpenAI({ baseURL: `${served!.url}/v1`, apiKey: TOKEN, maxRetries: 0 });

/** Runs `tasks` with at most `width` in flight. */
async function inBatches<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, k) => task(i + k)))));
  return out;
}

describe('a cut the request asked for (its maxTokens)', () => {
  it('comes back as it is from complete(), with one upstream call and finishReason length, and is not cached', async () => {
    const engine = createEngine({ models: [smart(), fast()], cache: {}, breaker: BREAKER });
    try {
      const r = await engine.complete({ prompt: 'one two three four', maxTokens: 2 });
      expect(r).toMatchObject({ text: 'big answer: ', model: 'smart', finishReason: 'length', fallback: false, cached: false });
      expect(r.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
      expect([provider.calls('big'), provider.calls('small')]).toEqual([1, 0]);
      const again = await engine.complete({ prompt: 'one two three four', maxTokens: 2 });
      expect(again).toMatchObject({ finishReason: 'length', cached: false });
      expect(provider.calls('big')).toBe(2);
    } finally {
      await engine.close();
    }
  });

  it('comes back as it is from a stream, with one upstream call', async () => {
    const engine = createEngine({ models: [smart(), fast()], cache: false, breaker: BREAKER });
    try {
      const deltas: string[] = [];
      const s = engine.stream({ prompt: 'one two three four', maxTokens: 3 });
      for await (const d of s) deltas.push(d);
      const r = await s.result;
      expect(r).toMatchObject({ text: 'big answer: one ', model: 'smart', finishReason: 'length', fallback: false });
      expect(deltas.join('')).toBe('big answer: one ');
      expect(r.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
      expect([provider.calls('big'), provider.calls('small')]).toEqual([1, 0]);
    } finally {
      await engine.close();
    }
  });

  it('comes back from the gateway as finish_reason length, streaming and not, with one upstream call each', async () => {
    await start();
    const c = await gateway().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'one two three' }], max_tokens: 1 });
    expect(c.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: 'big ' } });
    expect(c.model).toBe('big');
    const s = await gateway().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'one two three' }], max_completion_tokens: 2, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of s) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ text, finish }).toEqual({ text: 'big answer: ', finish: 'length' });
    expect([provider.calls('big'), provider.calls('small')]).toEqual([2, 0]);
  });

  it('is a cut even when its one token is blank (not an empty answer), and so is a withheld answer without content', async () => {
    const engine = createEngine({ models: [smart(), fast()], cache: false, breaker: BREAKER });
    try {
      const blank = await engine.complete({ prompt: 'echo:  \n then more', maxTokens: 1 });
      expect(blank).toMatchObject({ text: '  \n ', model: 'smart', finishReason: 'length' });
      expect([provider.calls('big'), provider.calls('small')]).toEqual([1, 0]);
      // `content: null` with finish_reason content_filter: withheld (the prompt's doing), not a malformed answer
      const withheld = await engine.complete({ prompt: 'something FORBIDDEN' }).catch((e: unknown) => e);
      expect((withheld as { attempts: unknown[] }).attempts[0]).toMatchObject({ model: 'smart', outcome: 'invalid', message: expect.stringMatching(/content filter/) });
      expect(engine.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    } finally {
      await engine.close();
    }
  });

  it('is shared by identical requests: one that joins another\'s call accepts its cut (one upstream call)', async () => {
    provider.setLatency('big', 100);
    const engine = createEngine({ models: [smart(), fast()], cache: {}, breaker: BREAKER });
    try {
      const same = { prompt: 'one two three four', maxTokens: 1 };
      const [a, b] = await Promise.all([engine.complete(same), engine.complete(same)]);
      expect(a).toMatchObject({ text: 'big ', finishReason: 'length', coalesced: false });
      expect(b).toMatchObject({ text: 'big ', finishReason: 'length', coalesced: true });
      expect(provider.calls('big')).toBe(1);
    } finally {
      await engine.close();
    }
  });

  it('set by the model\'s maxOutputTokens instead (lower than the request\'s) is not the one asked for: the next model answers', async () => {
    const engine = createEngine({ models: [smart({ maxOutputTokens: 2 }), fast()], cache: false, breaker: BREAKER });
    try {
      const r = await engine.complete({ prompt: 'one two three four', maxTokens: 50 });
      expect(r).toMatchObject({ model: 'fast', finishReason: 'stop' });
      expect(r.attempts[0]).toMatchObject({ model: 'smart', outcome: 'invalid', message: expect.stringMatching(/token limit/) });
      expect(engine.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    } finally {
      await engine.close();
    }
  });
});

describe('one client cannot take a model out for every tenant', () => {
  it('tenants flooding ctx.llm with maxTokens: 1 get their cuts; another tenant is then answered by the primary, its breaker closed', async () => {
    await start();
    const cuts = await inBatches(30, 10, (i) => post('/complete', `greedy-${i}`, { prompt: `question ${i} with many words`, maxTokens: 1 }));
    for (const res of cuts) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ model: 'smart', text: 'big ', finishReason: 'length', fallback: false });
    }
    expect([provider.calls('big'), provider.calls('small')]).toEqual([30, 0]);
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });

    const other = await post('/complete', 'someone-else', { prompt: 'a normal question' });
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ model: 'smart', finishReason: 'stop', fallback: false, text: 'big answer: a normal question' });
    expect([provider.calls('big'), provider.calls('small')]).toEqual([31, 0]);
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('the same through the gateway, streaming and not: the primary still answers the next client', async () => {
    await start();
    const ask = (i: number) => ({ model: 'default', messages: [{ role: 'user' as const, content: `client ${i} asks a question` }], max_tokens: 1 });
    const plain = await inBatches(20, 10, (i) => gateway().chat.completions.create(ask(i)));
    for (const c of plain) expect(c.choices[0].finish_reason).toBe('length');
    const streamed = await inBatches(20, 10, async (i) => {
      let finish: string | null = null;
      for await (const chunk of await gateway().chat.completions.create({ ...ask(i), stream: true })) finish = chunk.choices[0]?.finish_reason ?? finish;
      return finish;
    });
    expect(streamed).toEqual(Array(20).fill('length'));
    expect([provider.calls('big'), provider.calls('small')]).toEqual([40, 0]);

    const next = await gateway().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'a normal question' }] });
    expect(next.model).toBe('big');
    expect(next.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'big answer: a normal question' } });
    expect([provider.calls('big'), provider.calls('small')]).toEqual([41, 0]);
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('a flood of cuts does not shrink the adaptive timeout of another tenant\'s full answer (a cut is no latency sample)', async () => {
    provider.setLatency('big', 0, 30); // 30 ms a word: a one-word cut comes fast, a full answer takes longer
    await start({ adaptiveTimeout: { minSamples: 10 } });
    await inBatches(20, 5, (i) => post('/complete', `greedy-${i}`, { prompt: `question ${i} with many words`, maxTokens: 1 }));
    const other = await post('/complete', 'someone-else', { prompt: 'a normal question' });
    expect(other.body).toMatchObject({ model: 'smart', fallback: false, finishReason: 'stop' });
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
    expect(llm!.status().models[0].latency['*']?.samples ?? 0).toBe(1);
  });

  it.each(['/complete', '/stream'])('nor does a flood of answers cut short by the request\'s own stop sequences (no answer to a request with stop is a latency sample): %s', async (path) => {
    provider.setLatency('big', 0, 30); // an answer stopped after its first word comes fast; a full answer takes longer
    await start({ adaptiveTimeout: { minSamples: 10 } });
    const stopped = await inBatches(20, 5, (i) => post(path, `greedy-${i}`, { prompt: `echo:a ${i} b c d e f g h`, stop: [` ${i} `, 'zz'] }));
    for (const res of stopped) expect(res.body).toMatchObject({ model: 'smart', finishReason: 'stop', text: 'a' });
    // a full answer of ten words (300 ms): far above the stopped answers' latency, within the model's own usual time
    const other = await post(path, 'someone-else', { prompt: 'echo:one two three four five six seven eight nine ten' });
    expect(other.body).toMatchObject({ model: 'smart', fallback: false, finishReason: 'stop' });
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
    expect(llm!.status().models[0].latency['*']?.samples ?? 0).toBe(1);
  });

  it('holds for hedged attempts: a hedge refused by its request\'s validate hook does not count against the hedging model', async () => {
    const engine = createEngine({ models: [smart(), fast()], cache: false, breaker: BREAKER, hedge: { afterPercentile: 50, maxExtraLoad: 1, minSamples: 5 } });
    try {
      provider.setLatency('big', 10);
      for (let i = 0; i < 6; i++) await engine.complete({ prompt: `warm ${i}` });
      provider.setLatency('big', 300); // now slower than usual: every request is hedged with the fallback
      const refused = await Promise.all(Array.from({ length: 8 }, (_, i) => engine.complete({ prompt: `picky ${i}`, validate: () => false }).catch((e: unknown) => e)));
      for (const err of refused) {
        const attempts = (err as { attempts: { model: string; outcome: string; hedged?: boolean }[] }).attempts;
        expect(attempts).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'fast', outcome: 'invalid', hedged: true })]));
      }
      expect(engine.status().models.map((m) => [m.name, m.state, m.failures])).toEqual([
        ['smart', 'closed', 0],
        ['fast', 'closed', 0],
      ]);
    } finally {
      await engine.close();
    }
  });

  /** Requests whose answers only they make unusable, and what the primary's attempt says about each. */
  const KINDS = {
    'schema not met': { body: { prompt: 'echo:{"x": 1}', schema: { type: 'object', required: ['title'] } }, outcome: 'invalid', message: /does not match the schema/ },
    'not JSON for a schema': { body: { prompt: 'plain words', schema: { type: 'object' } }, outcome: 'invalid', message: /not valid JSON/ },
    'validate rejects': { body: { prompt: 'judge me' }, validate: 'reject', outcome: 'invalid', message: /validate\(\) rejected/ },
    'validate throws': { body: { prompt: 'judge me' }, validate: 'throw', outcome: 'invalid', message: /validate\(\) threw/ },
    'validate never settles': { body: { prompt: 'judge me', timeoutMs: 60, deadlineMs: 300 }, validate: 'hang', outcome: 'timeout', message: /validate\(\) did not settle/ },
    'content filter': { body: { prompt: 'something FORBIDDEN' }, outcome: 'invalid', message: /content filter/ },
    'stop sequence leaves nothing': { body: { prompt: 'echo:abc', stop: ['a'] }, outcome: 'invalid', message: /empty/ },
    'cut by the model cap, no maxTokens': { body: { prompt: 'a question that needs a long answer' }, outcome: 'invalid', message: /token limit/ },
  } as const;

  it.each(['/complete', '/stream'])('answers made unusable by their own request (schema, validate, content filter, stop, a cut) never count: %s', async (path) => {
    // the primary caps its answers at 4 tokens: a long answer is cut without the request asking
    await start({ models: [smart({ maxOutputTokens: 4 }), fast()] });
    const kinds = Object.entries(KINDS);
    const results = await inBatches(kinds.length * 5, 8, async (i) => {
      const [name, kind] = kinds[i % kinds.length];
      const res = await post(path, `tenant-${i}`, { ...kind.body }, 'validate' in kind ? kind.validate : undefined);
      return { name, kind, res };
    });
    for (const { name, kind, res } of results) {
      if (res.status !== 200) expect([name, res.status]).toEqual([name, path === '/stream' && res.status === 502 ? 502 : 503]);
      const attempts = res.status === 200 ? res.body.attempts : undefined;
      if (attempts) expect({ name, first: attempts[0] }).toMatchObject({ name, first: { model: 'smart', outcome: kind.outcome, message: expect.stringMatching(kind.message) } });
      // (a stream that had sent text ends with 502 stream_interrupted; one that had not, or complete(), with a 503)
      else expect({ name, status: res.status, first: res.body.error.attempts[0] }).toMatchObject({ name, first: { model: 'smart', outcome: kind.outcome } });
    }
    expect(provider.calls('big')).toBe(kinds.length * 5);
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0, successes: 0 });
    expect(breakerOf('fast')).toMatchObject({ state: 'closed', failures: 0 });

    const other = await post(path, 'someone-else', { prompt: 'hi' });
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ model: 'smart', finishReason: 'stop', fallback: false });
    expect(provider.calls('big')).toBe(kinds.length * 5 + 1);
    expect(breakerOf('smart').state).toBe('closed');

    // while the provider's own failures still count: its 500s open the breaker
    provider.setFailing('big', true);
    for (let i = 0; i < 6; i++) await post(path, `t${i}`, { prompt: `q${i}` });
    expect(breakerOf('smart').state).toBe('open');
  });

  it('holds for any mix of such requests among ordinary ones (generated)', async () => {
    const kinds = Object.values(KINDS);
    const engine = createEngine({ models: [smart({ maxOutputTokens: 4 }), fast()], cache: false, breaker: BREAKER });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: kinds.length - 1 }), fc.integer({ min: 1, max: 3 }).map((t) => 100 + t)), { minLength: 6, maxLength: 20 }), async (picks) => {
          for (const pick of picks) {
            // -1: an ordinary request; 100 + n: a cut it asked for (maxTokens n); else one of the kinds
            let req: CompletionRequest = { prompt: 'hi' };
            if (pick >= 100) req = { prompt: 'one two three four five', maxTokens: pick - 100 };
            else if (pick >= 0) {
              const kind = kinds[pick];
              req = { ...(kind.body as CompletionRequest), ...('validate' in kind ? { validate: HOOKS[kind.validate] } : {}) };
            }
            await engine.complete(req).catch(() => undefined);
          }
          const r = await engine.complete({ prompt: 'hi' });
          expect(r.model).toBe('smart');
          expect(engine.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
        }),
        { numRuns: 15 },
      );
    } finally {
      await engine.close();
    }
  });
});

describe('a half-open probe', () => {
  it.each([
    ['its validate hook rejects the answer', { prompt: 'probe' }, 'reject'],
    ['its schema is not met', { prompt: 'probe', schema: { type: 'object' } }, undefined],
  ])('that reached a working provider closes the breaker, though %s', async (_why, body, validate) => {
    await start({ breaker: { ...BREAKER, resetTimeoutMs: 200 } });
    provider.setFailing('big', true);
    for (let i = 0; i < 5; i++) await post('/complete', `t${i}`, { prompt: `q${i}` });
    expect(breakerOf('smart').state).toBe('open');
    provider.setFailing('big', false);
    await waitFor(() => breakerOf('smart').state === 'half_open', 3000);
    const probe = await post('/complete', 'prober', body, validate);
    expect(probe.status).toBe(503); // the fallback refuses the same answer
    expect(probe.body.error.attempts[0]).toMatchObject({ model: 'smart', outcome: 'invalid' });
    expect(breakerOf('smart').state).toBe('closed');
    const next = await post('/complete', 'someone-else', { prompt: 'hi' });
    expect(next.body).toMatchObject({ model: 'smart', fallback: false });
  });
});

describe('a half-open probe that proves nothing', () => {
  it.each([false, true])('whose client leaves gives its slot back: the breaker stays half-open and the next request probes (stream: %s)', async (stream) => {
    // a probe that is still in flight when its client leaves: no rescue by the next model answering it meanwhile
    await start({ breaker: { ...BREAKER, resetTimeoutMs: 500 }, rescue: false });
    provider.setFailing('big', true);
    for (let i = 0; i < 5; i++) await post('/complete', `t${i}`, { prompt: `q${i}` });
    expect(breakerOf('smart').state).toBe('open');
    provider.setFailing('big', false);
    provider.setLatency('big', 1000);
    await waitFor(() => breakerOf('smart').state === 'half_open', 3000);
    const before = provider.calls('big');
    // a gateway client that gives up while its probe is in flight
    const leaving = new AbortController();
    const gone = gateway()
      .chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'probe and leave' }], stream }, { signal: leaving.signal })
      .then(async (r) => {
        if (stream) for await (const _ of r as AsyncIterable<unknown>);
      })
      .catch((e: unknown) => e);
    await waitFor(() => provider.calls('big') === before + 1, 2000);
    leaving.abort();
    await gone;
    // (once the attempt has ended: a breaker re-opened by it would stay open for resetTimeoutMs, far longer)
    await waitFor(() => llm!.status().models[0].inFlight === 0, 2000);
    expect(breakerOf('smart').state).toBe('half_open');
    await sleep(50);
    expect(breakerOf('smart').state).toBe('half_open');
    // the next request is the probe: the model answers it, the breaker closes
    provider.setLatency('big', 0);
    const next = await post('/complete', 'someone-else', { prompt: 'hi' });
    expect(next.body).toMatchObject({ model: 'smart', fallback: false });
    expect(breakerOf('smart').state).toBe('closed');
    expect(provider.calls('big')).toBe(before + 2);
  });
});

describe('a time limit the request set (its own timeoutMs, or a deadline tighter than the app\'s)', () => {
  it.each(['/complete', '/stream'])('that runs out before a slow primary answers is not the primary\'s failure: %s', async (path) => {
    provider.setLatency('big', 400);
    await start({ breaker: { ...BREAKER, resetTimeoutMs: 300 } });
    // (the request's timeoutMs bounds the fallback's attempt too, which answers at once)
    const hurried = await inBatches(12, 6, (i) => post(path, `hurried-${i}`, i % 2 === 0 ? { prompt: `q${i}`, timeoutMs: 150 } : { prompt: `q${i}`, deadlineMs: 150 }));
    for (const [i, res] of hurried.entries()) {
      const attempts = res.status === 200 ? res.body.attempts : res.body.error.attempts;
      expect(attempts[0]).toMatchObject({ model: 'smart', outcome: 'timeout' });
      if (i % 2 === 0) expect(res.body).toMatchObject({ model: 'fast', fallback: true }); // the fallback had its time
    }
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
    // the primary answers another tenant, who gives it its own time
    const other = await post(path, 'patient', { prompt: 'take your time' });
    expect(other.body).toMatchObject({ model: 'smart', fallback: false });

    // the same slowness within the model's own timeout counts: it opens the breaker
    await llm!.close();
    await served!.close();
    // (probes alone: no rescue by the next model, whose attempt would leave the probe running past its request)
    await start({ models: [smart({ timeoutMs: 30, firstTokenTimeoutMs: 30 }), fast()], breaker: { ...BREAKER, resetTimeoutMs: 300 }, rescue: false });
    for (let i = 0; i < 5; i++) await post(path, `t${i}`, { prompt: `slow ${i}` });
    expect(breakerOf('smart').state).toBe('open');
    // and a half-open probe that the request's own limit cut short proved nothing: the breaker stays half-open, its
    // probe slot free for the next request, whose own probe decides
    await waitFor(() => breakerOf('smart').state === 'half_open', 3000);
    const before = provider.calls('big');
    await post(path, 'prober', { prompt: 'probe', timeoutMs: 10 });
    expect(provider.calls('big')).toBe(before + 1); // it did probe
    expect(breakerOf('smart').state).toBe('half_open');
    await post(path, 'prober', { prompt: 'probe again', timeoutMs: 10 });
    expect(provider.calls('big')).toBe(before + 2);
    expect(breakerOf('smart').state).toBe('half_open');
    // a probe given the model's own time (and still too slow for it) re-opens it
    await post(path, 'next', { prompt: 'real probe' });
    expect(provider.calls('big')).toBe(before + 3);
    expect(breakerOf('smart').state).toBe('open');
  });

  it.each(['/complete', '/stream'])('counts once it gave the model more than its usual time (an app that sets timeoutMs on every call keeps its breakers): %s', async (path) => {
    // (its usual time: at least 300 ms, the adaptive timeout's floor here, so that a loaded machine times out no warm-up)
    await start({ adaptiveTimeout: { minSamples: 5, minTimeoutMs: 300 }, breaker: { ...BREAKER, volumeThreshold: 4 } });
    provider.setLatency('big', 800);
    // before the model has a usual time, a short limit of the request's proves nothing
    for (let i = 0; i < 4; i++) await post(path, `cold-${i}`, { prompt: `cold ${i}`, timeoutMs: 350 });
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
    provider.setLatency('big', 5);
    for (let i = 0; i < 6; i++) expect((await post(path, `warm-${i}`, { prompt: `warm ${i}` })).body.model).toBe('smart');
    // it usually answers within a few ms: not answering within the request's 350 ms is the model's failure
    provider.setLatency('big', 800);
    for (let i = 0; i < 6; i++) await post(path, `slow-${i}`, { prompt: `slow ${i}`, timeoutMs: 350 });
    expect(breakerOf('smart').state).toBe('open');
  });

  it('the app\'s own deadline applies to every request alike: an attempt it cuts short still counts', async () => {
    provider.setLatency('big', 400);
    await start({ deadlineMs: 60, breaker: { ...BREAKER } });
    for (let i = 0; i < 5; i++) expect((await post('/complete', `t${i}`, { prompt: `q${i}` })).status).toBe(503);
    expect(breakerOf('smart').state).toBe('open');
    // while a request's own deadline, tighter than the app's, does not
    await llm!.close();
    await served!.close();
    await start({ deadlineMs: 10_000, breaker: { ...BREAKER } });
    for (let i = 0; i < 6; i++) expect((await post('/complete', `t${i}`, { prompt: `q${i}`, deadlineMs: 60 })).status).toBe(503);
    expect(breakerOf('smart')).toMatchObject({ state: 'closed', failures: 0 });
  });
});
