/**
 * A prompt that fits no model of the chain is the caller's error (retrying can never help): 413
 * CONTEXT_LENGTH_EXCEEDED from ctx.llm, streams and the Express adapter, OpenAI's 400 context_length_exceeded from
 * the gateway; never a Retry-After. Any model that failed for a reason that may pass keeps it a 503.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import Koa from 'koa';
import OpenAI from 'openai';
import request from 'supertest';
import Router from '@koa/router';
import {
  AllModelsFailedError,
  createEngine,
  llmExpress,
  llmResilience,
  type LlmExpressMiddleware,
  type LlmResilienceMiddleware,
  openAICompatibleRouter,
  RequestError,
} from '../../../lib';
import type { FakeBehavior, FakeLlm } from '../../../lib/testing';
import type { ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { listen, type Listening, readJson, useFakeLlm } from '../../helpers/app';

const TOKEN = 'gateway-token-0123456789';
let fake: FakeLlm;
let koa: { llm: LlmResilienceMiddleware; served: Listening } | undefined;
let exp: { llm: LlmExpressMiddleware; server: http.Server } | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    await koa?.llm.close();
    await koa?.served.close();
    koa = undefined;
    if (exp) {
      exp.server.closeAllConnections();
      await new Promise((r) => exp!.server.close(r));
      await exp.llm.close();
      exp = undefined;
    }
  },
);

/** About 240 tokens: more than a 100-token window holds. */
const LONG = 'lorem ipsum dolor sit amet '.repeat(40);
const model = (name: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ name, model: name, baseURL: fake.url, apiKey: 'k', timeoutMs: 1000, ...extra });
const small = (name: string) => model(name, { contextWindow: 100 });
const long = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user' as const, content: LONG }], ...extra });

/** A Koa app: the middleware, POST /complete and /sse through ctx.llm, and the gateway. */
async function startKoa(options: LlmResilienceOptions): Promise<void> {
  const llm = llmResilience({ cache: false, ...options });
  const app = new Koa();
  app.use(llm);
  const router = new Router();
  router.post('/complete', async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as never);
  });
  router.post('/sse', async (ctx) => {
    await ctx.llm.sse((await readJson(ctx.req)) as never);
  });
  const gateway = openAICompatibleRouter({ apiKeys: [TOKEN] });
  app.use(router.routes()).use(gateway.routes()).use(gateway.allowedMethods());
  koa = { llm, served: await listen(app) };
}
const post = (path: string, body: unknown) => request(koa!.served.server).post(path).send(body as object);
const chat = (body: Record<string, unknown>) => request(koa!.served.server).post('/v1/chat/completions').set('authorization', `Bearer ${TOKEN}`).send({ model: 'default', ...body });

describe('a prompt that fits no model', () => {
  it('by every model\'s contextWindow, though one is open and another cooling down: 413, no upstream call, no Retry-After', async () => {
    await startKoa({ models: [small('a'), small('b')], breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 } });
    fake.setBehavior('a', { mode: 'error' });
    fake.setBehavior('b', { mode: 'rate_limit', retryAfterS: 60 });
    await post('/complete', { messages: [{ role: 'user', content: 'short' }], models: ['a'] });
    await post('/complete', { messages: [{ role: 'user', content: 'short' }], models: ['b'] });
    expect(koa!.llm.status().models.map((m) => [m.state, m.cooldownUntil !== null])).toEqual([
      ['open', false],
      ['closed', true],
    ]);
    fake.resetRequests();
    for (const path of ['/complete', '/v1/chat/completions']) {
      const body = path === '/complete' ? long() : { model: 'default', ...long() };
      const res = await request(koa!.served.server).post(path).set('authorization', `Bearer ${TOKEN}`).send(body);
      expect(res.status).toBe(path === '/complete' ? 413 : 400);
      expect(res.headers['retry-after']).toBeUndefined();
      expect(JSON.stringify(res.body)).toMatch(/context_length_exceeded|CONTEXT_LENGTH_EXCEEDED/);
    }
    expect(fake.stats().requests).toBe(0);
  });

  it('by every model\'s contextWindow: ctx.llm answers 413 CONTEXT_LENGTH_EXCEEDED, with no upstream call and no Retry-After', async () => {
    await startKoa({ models: [small('a'), small('b')] });
    const res = await post('/complete', long({ maxTokens: 10 }));
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error).toMatchObject({ type: 'invalid_request', code: 'CONTEXT_LENGTH_EXCEEDED', message: expect.stringMatching(/does not fit the context window of any model/) });
    expect(res.body.error.details).toEqual([expect.stringMatching(/^\/messages: too long for model "a" \(needs \d+ tokens; the context window is 100\)$/), expect.stringMatching(/model "b"/)]);
    expect(fake.stats().requests).toBe(0);
  });

  it('by one model\'s window and the other provider\'s context_length_exceeded: 413 too (one upstream call, to that provider)', async () => {
    fake.setBehavior('b', { mode: 'context_length' });
    await startKoa({ models: [small('a'), model('b')] });
    const res = await post('/complete', long());
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect([fake.stats('a').requests, fake.stats('b').requests]).toEqual([0, 1]);
  });

  it('streams: ctx.llm.sse answers the same 413 before any event, and the stream rejects with the RequestError and its attempts', async () => {
    await startKoa({ models: [small('a'), small('b')] });
    const res = await post('/sse', long());
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error.code).toBe('CONTEXT_LENGTH_EXCEEDED');

    const s = koa!.llm.engine.stream(long());
    const err = await s.final().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ status: 413, code: 'CONTEXT_LENGTH_EXCEEDED' });
    expect((err as RequestError).attempts.map((a) => [a.model, a.outcome])).toEqual([
      ['a', 'skipped_context'],
      ['b', 'skipped_context'],
    ]);
    expect(fake.stats().requests).toBe(0);
  });

  it('the gateway answers OpenAI\'s 400 context_length_exceeded, streaming and not, with no upstream call and no Retry-After (maxPromptTokens stays a 413)', async () => {
    await startKoa({ models: [small('a'), small('b')], maxPromptTokens: 1000 });
    for (const stream of [false, true]) {
      const res = await chat({ messages: [{ role: 'user', content: LONG }], stream });
      expect(res.status).toBe(400);
      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.body).toEqual({
        error: { message: expect.stringMatching(/does not fit the context window of any model/), type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' },
      });
    }
    // the official SDK sees a BadRequestError it does not retry
    const client = new OpenAI({ baseURL: `${koa!.served.url}/v1`, apiKey: TOKEN, maxRetries: 2 });
    const err = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: LONG }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
    expect(fake.stats().requests).toBe(0);

    const tooLarge = await chat({ messages: [{ role: 'user', content: LONG.repeat(10) }] });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('request_too_large');
    expect((await post('/complete', { messages: [{ role: 'user', content: LONG.repeat(10) }] })).body.error.code).toBe('REQUEST_TOO_LARGE');
  });

  it('the Express adapter answers 413 CONTEXT_LENGTH_EXCEEDED without Retry-After', async () => {
    const llm = llmExpress({ models: [small('a'), small('b')], cache: false });
    const app = express();
    app.use(express.json());
    app.use(llm);
    app.post('/complete', async (req, res) => {
      res.json(await req.llm.complete(req.body));
    });
    app.use(llm.errorHandler);
    const server = http.createServer(app);
    exp = { llm, server };
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}`).post('/complete').send(long());
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
    expect(fake.stats().requests).toBe(0);
  });
});

describe('is a 503 when any model was out for a reason that may pass', () => {
  it.each<[string, FakeBehavior]>([
    ['a 5xx', { mode: 'error' }],
    ['a 429', { mode: 'rate_limit', retryAfterS: 2 }],
    ['a timeout', { mode: 'hang' }],
  ])('the other model\'s %s: 503 all_models_failed with Retry-After (and 413 once it too says the prompt is too long)', async (_why, behavior) => {
    fake.setBehavior('b', behavior);
    await startKoa({ models: [small('a'), model('b', { timeoutMs: 100 })], rateLimit: { defaultCooldownMs: 1, maxCooldownMs: 1 } });
    const res = await post('/complete', long());
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.body.error.type).toBe('all_models_failed');
    await new Promise((r) => setTimeout(r, 5)); // (past the 429's cool-down)
    fake.setBehavior('b', { mode: 'context_length' });
    const tooLong = await post('/complete', long());
    expect(tooLong.status).toBe(413);
    expect(tooLong.headers['retry-after']).toBeUndefined();
  });
});

/** What happens to one model of a generated chain. */
const FATES = {
  window: { transient: false },
  provider: { transient: false },
  error: { transient: true },
  rate_limit: { transient: true },
  hang: { transient: true },
  breaker_open: { transient: true },
  // too small for the prompt, and also out for a reason that passes: its window decides, for good
  window_and_open: { transient: false },
  window_and_cooling: { transient: false },
} as const;
type Fate = keyof typeof FATES;

describe('any chain (generated): a caller\'s error exactly when every model was ruled out by the prompt\'s length', () => {
  it('complete() and streams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...(Object.keys(FATES) as Fate[])), { minLength: 1, maxLength: 3 }), async (fates) => {
        const models = fates.map((fate, i) => {
          const name = `m${i}`;
          fake.setBehavior(name, fate === 'provider' ? { mode: 'context_length' } : fate === 'error' ? { mode: 'error' } : fate === 'rate_limit' ? { mode: 'rate_limit' } : fate === 'hang' ? { mode: 'hang' } : {});
          return fate.startsWith('window') ? small(name) : model(name, { timeoutMs: 80 });
        });
        const engine = createEngine({ models, cache: false, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 } });
        try {
          // open the breakers of the models meant to be open, with a request that fits (a 500 from the fake)
          // (and the cool-downs of the ones meant to be cooling down, with a 429)
          for (const [i, fate] of fates.entries()) {
            if (fate !== 'breaker_open' && fate !== 'window_and_open' && fate !== 'window_and_cooling') continue;
            fake.setBehavior(`m${i}`, fate === 'window_and_cooling' ? { mode: 'rate_limit', retryAfterS: 60 } : { mode: 'error' });
            await engine.complete({ prompt: 'short', models: [`m${i}`] }).catch(() => undefined);
            fake.setBehavior(`m${i}`, {});
          }
          for (const [i, fate] of fates.entries()) {
            const m = engine.status().models[i];
            if (fate === 'window_and_cooling') expect(m.cooldownUntil).not.toBeNull();
            if (fate === 'window_and_open' || fate === 'breaker_open') expect(m.state).toBe('open');
          }
          fake.resetRequests();
          const callerFault = fates.every((f) => !FATES[f].transient);
          for (const run of [() => engine.complete(long()), () => engine.stream(long()).final()]) {
            const err = await run().then(
              () => 'answered',
              (e: unknown) => e,
            );
            if (callerFault) {
              expect(err).toBeInstanceOf(RequestError);
              expect(err).toMatchObject({ status: 413, code: 'CONTEXT_LENGTH_EXCEEDED' });
            } else {
              expect(err).toBeInstanceOf(AllModelsFailedError);
            }
          }
          // a model skipped by its window is never called
          fates.forEach((f, i) => f.startsWith('window') && expect(fake.stats(`m${i}`).requests).toBe(0));
        } finally {
          await engine.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
