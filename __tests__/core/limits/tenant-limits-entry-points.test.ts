/**
 * A tenant's 429 through every entry point, over real HTTP: the OpenAI-compatible gateway on Koa (with its own
 * engine and through `ctx.llm`), `llmExpress` with its error handler, and the gateway on Express. Each answers with
 * `Retry-After` and OpenAI's `x-ratelimit-*` headers, the gateway in OpenAI's error shape; another tenant is served.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import OpenAI from 'openai';
import request from 'supertest';
import { llmExpress, type LlmExpressMiddleware, llmResilience, type LlmResilienceMiddleware, openAICompatibleExpress, openAICompatibleRouter } from '../../../lib';
import type { FakeLlm } from '../../../lib/testing';
import { useFakeLlm } from '../../helpers/app';

const TOKEN = 'app-token-0123456789';
let fake: FakeLlm;
let server: http.Server | undefined;
let closeLlm: (() => Promise<void>) | undefined;
useFakeLlm(
  (f) => (fake = f),
  async () => {
    server?.closeAllConnections();
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
    await closeLlm?.();
    closeLlm = undefined;
  },
);

const models = () => [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 1000 }];
const limits = { requestsPerMinute: 1, tokensPerMinute: 10_000 };
let n = 0;
const chat = () => ({ model: 'smart', messages: [{ role: 'user', content: `gateway question ${++n}` }] });

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The gateway's 429, in OpenAI's shape, with the headers, and no upstream call for it; then another tenant is served. */
async function expectGateway429(url: string): Promise<void> {
  const post = (tenant: string) => request(url).post('/v1/chat/completions').set('authorization', `Bearer ${TOKEN}`).set('x-tenant', tenant).send(chat());
  expect((await post('acme')).status).toBe(200);
  const upstream = fake.stats().requests;
  const refused = await post('acme');
  expect(refused.status).toBe(429);
  expect(refused.body).toEqual({ error: { message: expect.stringContaining('requests per minute'), type: 'requests', param: null, code: 'rate_limit_exceeded' } });
  expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(refused.headers['x-ratelimit-limit-requests']).toBe('1');
  expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
  expect(refused.headers['x-ratelimit-reset-requests']).toBeDefined();
  expect(refused.headers['x-ratelimit-limit-tokens']).toBe('10000');
  expect(Number(refused.headers['x-ratelimit-remaining-tokens'])).toBeGreaterThan(9000);
  expect(fake.stats().requests).toBe(upstream);
  // streamed too: refused before any byte
  const streamed = await request(url).post('/v1/chat/completions').set('authorization', `Bearer ${TOKEN}`).set('x-tenant', 'acme').send({ ...chat(), stream: true });
  expect(streamed.status).toBe(429);
  expect((await post('globex')).status).toBe(200);
}

describe('the OpenAI-compatible gateway on Koa', () => {
  it.each([
    ['with its own engine', false],
    ['through ctx.llm', true],
  ])('%s: a tenant over its limit gets OpenAI\'s 429 while another is served', async (_name, viaCtx) => {
    const llm: LlmResilienceMiddleware = llmResilience({ models: models(), cache: false, tenant: (ctx) => ctx.get('x-tenant') || undefined, tenantLimits: limits });
    closeLlm = () => llm.close();
    const app = new Koa();
    app.silent = true;
    const router = openAICompatibleRouter({ apiKeys: [TOKEN], ...(viaCtx ? {} : { llm }) });
    if (viaCtx) app.use(llm);
    app.use(router.routes());
    await expectGateway429(await serve(app.callback()));
  });

  it('the official openai SDK sees a RateLimitError (429) with the headers', async () => {
    const llm = llmResilience({ models: models(), cache: false, tenant: () => 'the-only-tenant', tenantLimits: { requestsPerMinute: 1 } });
    closeLlm = () => llm.close();
    const app = new Koa();
    app.silent = true;
    const router = openAICompatibleRouter({ apiKeys: [TOKEN], llm });
    app.use(router.routes());
    const url = await serve(app.callback());
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN, maxRetries: 0 });
    await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'one' }] });
    const err = await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'two' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.code).toBe('rate_limit_exceeded');
    expect(e.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });
});

describe('Express', () => {
  let llm: LlmExpressMiddleware;
  const start = () => {
    llm = llmExpress({ models: models(), cache: false, tenant: (req) => (req.headers['x-tenant'] as string | undefined) || undefined, tenantLimits: limits });
    closeLlm = () => llm.close();
  };

  it('llmExpress: req.llm.complete of a tenant over its limit is answered 429 by the error handler, with the headers', async () => {
    start();
    const app = express();
    app.use(express.json());
    app.use(llm);
    app.post('/complete', async (req, res) => {
      res.json(await req.llm.complete(req.body));
    });
    app.use(llm.errorHandler);
    const url = await serve(app);
    const post = (tenant: string) => request(url).post('/complete').set('x-tenant', tenant).send({ messages: [{ role: 'user', content: `q ${++n}` }] });
    expect((await post('acme')).status).toBe(200);
    const refused = await post('acme');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ type: 'tenant_rate_limited', code: 'TENANT_RATE_LIMITED', limit: 'requests' });
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.headers['x-ratelimit-limit-requests']).toBe('1');
    expect(refused.headers['x-ratelimit-limit-tokens']).toBe('10000');
    expect((await post('globex')).status).toBe(200);
    expect(fake.stats().requests).toBe(2);
  });

  it.each([
    ['with its own engine', false],
    ['through req.llm', true],
  ])('the gateway on Express %s: OpenAI\'s 429 while another tenant is served', async (_name, viaReq) => {
    start();
    const app = express();
    if (viaReq) app.use(llm);
    app.use(express.json());
    app.use(openAICompatibleExpress({ apiKeys: [TOKEN], ...(viaReq ? {} : { llm }) }));
    await expectGateway429(await serve(app));
  });
});
