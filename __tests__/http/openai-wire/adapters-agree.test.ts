/**
 * The OpenAI-compatible gateway answers the same in every adapter: the same request, sent byte for byte to the
 * Koa router and to the Express handler (each over the same models of one fake provider), gets the same status,
 * the same OpenAI-shaped body (ids and times aside) and the same protocol headers. A table of the cases that
 * matter (keys, bodies, every model failing, rate limits, context windows, streams cut mid-answer), then any body
 * fast-check makes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import Koa from 'koa';
import { llmExpress, llmResilience, openAICompatibleExpress, openAICompatibleRouter } from '../../../lib';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { startFakeLlm, type FakeBehavior, type FakeLlm } from '../../../lib/testing';

const KEY = 'gateway-key-0123456789';
let fake: FakeLlm;

beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

interface Served {
  port: number;
  close(): Promise<void>;
}

async function serve(handler: http.RequestListener, close: () => Promise<void>): Promise<Served> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await close();
    },
  };
}

/** The Koa router behind `ctx.llm` and the Express handler behind `req.llm`, each with its own engine of the same options. */
async function startBoth(): Promise<Record<'koa' | 'express', Served>> {
  const options: LlmResilienceOptions = {
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, contextWindow: 100 },
    ],
    cache: false,
    breaker: { volumeThreshold: 1000 },
  };
  const gateway = { apiKeys: [KEY], aliases: { cheap: ['fast'] }, maxBodyBytes: 4096 };
  const koaLlm = llmResilience(options);
  const koa = new Koa();
  koa.silent = true;
  const router = openAICompatibleRouter(gateway);
  koa.use(koaLlm).use(router.routes()).use(router.allowedMethods());
  const expressLlm = llmExpress(options as Parameters<typeof llmExpress>[0]);
  const app = express();
  app.use(expressLlm).use(openAICompatibleExpress(gateway));
  return {
    koa: await serve(koa.callback(), () => koaLlm.close()),
    express: await serve(app, () => expressLlm.close()),
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

/** Ids and times differ from one answer to the next: replaced by placeholders. */
const normalise = (text: string): string => text.replace(/"chatcmpl-[0-9a-f]+"/g, '"<id>"').replace(/"created":\d+/g, '"created":0');

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const type = String(res.headers['content-type'] ?? '');
        let parsed: unknown = normalise(text);
        if (type.startsWith('application/json')) parsed = JSON.parse(parsed as string);
        resolve({
          status: res.statusCode ?? 0,
          headers: {
            'content-type': type.split(';')[0] || undefined,
            'www-authenticate': res.headers['www-authenticate'],
            'retry-after': res.headers['retry-after'] === undefined ? undefined : String(res.headers['retry-after']).replace(/^\d+$/, '<seconds>'),
            'cache-control': res.headers['cache-control'],
          },
          body: parsed,
        });
      });
    });
    req.end(body);
  });
}

interface Case {
  name: string;
  method?: 'GET' | 'POST';
  path?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** A raw body, sent as it is. */
  raw?: string;
  behaviors?: Record<string, FakeBehavior>;
  /** What both answer (the comparison is the test; this says the case is the one meant). */
  status: number;
}

const auth = { authorization: `Bearer ${KEY}` };
const chat = (extra: object = {}) => ({ model: 'default', messages: [{ role: 'user', content: 'hello' }], ...extra });
/** The same behaviour for both models (each case sets, then resets, the models it names). */
const every = (b: FakeBehavior): Record<string, FakeBehavior> => ({ big: b, small: b });
const CASES: Case[] = [
  { name: 'a completion', body: chat({ max_tokens: 20, temperature: 0 }), status: 200 },
  { name: 'an alias', body: chat({ model: 'cheap' }), status: 200 },
  { name: 'the model list', method: 'GET', path: '/v1/models', status: 200 },
  { name: 'no key', headers: {}, body: chat(), status: 401 },
  { name: 'a wrong key', headers: { authorization: 'Bearer not-the-key-000' }, body: chat(), status: 401 },
  { name: 'a key without the Bearer scheme', headers: { authorization: KEY }, body: chat(), status: 401 },
  { name: 'the scheme in lower case', headers: { authorization: `bearer ${KEY}` }, body: chat(), status: 200 },
  { name: 'the model list without a key', method: 'GET', path: '/v1/models', headers: {}, status: 401 },
  { name: 'an unknown model', body: chat({ model: 'gpt-9' }), status: 404 },
  { name: 'a body that is not JSON', raw: '{"model":', status: 400 },
  { name: 'a body that is not an object', raw: '[1, 2]', status: 400 },
  { name: 'a body over maxBodyBytes', raw: JSON.stringify(chat({ messages: [{ role: 'user', content: 'x'.repeat(5000) }] })), status: 413 },
  { name: 'a bad field, named by its wire name', body: chat({ max_tokens: -1 }), status: 400 },
  { name: 'a bad message role', body: chat({ messages: [{ role: 'robot', content: 'x' }] }), status: 400 },
  { name: 'stream that is not a boolean', body: chat({ stream: 'yes' }), status: 400 },
  { name: 'a parameter passed through', body: chat({ presence_penalty: 0.5, logprobs: true }), status: 200 },
  { name: 'n > 1', body: chat({ n: 2 }), status: 200 },
  { name: 'n > 1 on a stream', body: chat({ n: 2, stream: true }), status: 400 },
  { name: 'tools, with a tool call answered', body: chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), behaviors: every({ toolCalls: [{ name: 'f', arguments: {} }] }), status: 200 },
  { name: 'tools offered twice', body: chat({ tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'f' } }] }), status: 400 },
  { name: 'every model failing: 503 with Retry-After', body: chat(), behaviors: every({ mode: 'error' }), status: 503 },
  { name: 'every model rate limited (429 upstream): 503 with Retry-After', body: chat(), behaviors: every({ mode: 'rate_limit', retryAfterS: 7 }), status: 503 },
  { name: 'a prompt no model can take', body: chat({ model: 'cheap', messages: [{ role: 'user', content: 'word '.repeat(300) }] }), status: 400 },
  { name: 'a stream, with its usage chunk', body: chat({ stream: true, stream_options: { include_usage: true } }), status: 200 },
  { name: 'a stream that fails over before its first token', body: chat({ stream: true }), behaviors: { big: { mode: 'error' } }, status: 200 },
  { name: 'a stream cut mid-answer: an in-stream error, no [DONE]', body: chat({ stream: true }), behaviors: every({ mode: 'cut', failAfterChunks: 1 }), status: 200 },
  { name: 'a stream whose every model fails before its first token', body: chat({ stream: true }), behaviors: every({ mode: 'error' }), status: 503 },
];

describe('the gateway in Koa and in Express', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('answer alike: %s', async (_name, c) => {
    for (const [model, b] of Object.entries(c.behaviors ?? {})) fake.setBehavior(model, b);
    const both = await startBoth();
    try {
      const payload = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
      const ask = (s: Served) => send(s.port, c.method ?? 'POST', c.path ?? '/v1/chat/completions', c.headers ?? auth, payload);
      const koa = await ask(both.koa);
      const viaExpress = await ask(both.express);
      expect(viaExpress).toEqual(koa);
      expect(koa.status).toBe(c.status);
    } finally {
      await both.koa.close();
      await both.express.close();
      for (const model of Object.keys(c.behaviors ?? {})) fake.setBehavior(model, {});
    }
  });

  it('answer alike for any body', async () => {
    const both = await startBoth();
    const value = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.integer({ min: -3, max: 3 }), fc.double({ min: -2, max: 3, noNaN: true }), fc.string({ maxLength: 5 }), fc.constant({}), fc.constant([]));
    const message = fc.record({ role: fc.constantFrom('user', 'system', 'assistant', 'robot', 7), content: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null), fc.integer()) }, { requiredKeys: [] });
    const body = fc.record(
      {
        model: fc.oneof(fc.constantFrom('default', 'cheap', 'smart', 'fast', 'gpt-9', ''), value),
        messages: fc.oneof(fc.array(message, { maxLength: 3 }), value),
        stream: fc.oneof(fc.boolean(), value),
        stream_options: fc.oneof(fc.record({ include_usage: fc.boolean() }), value),
        max_tokens: value,
        max_completion_tokens: value,
        temperature: value,
        top_p: value,
        n: value,
        stop: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { maxLength: 5 }), value),
        seed: value,
        presence_penalty: value,
        frequency_penalty: value,
        logit_bias: value,
        logprobs: value,
        response_format: fc.oneof(fc.constantFrom({ type: 'text' }, { type: 'json_object' }, { type: 'nope' }), value),
        user: value,
      },
      { requiredKeys: [] },
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: body.map((b) => JSON.stringify(b)) }, fc.json({ maxDepth: 2 }), fc.string({ maxLength: 20 })), async (payload) => {
          const koa = await send(both.koa.port, 'POST', '/v1/chat/completions', auth, payload);
          const viaExpress = await send(both.express.port, 'POST', '/v1/chat/completions', auth, payload);
          expect({ payload, answer: viaExpress }).toEqual({ payload, answer: koa });
        }),
        { numRuns: 60 },
      );
    } finally {
      await both.koa.close();
      await both.express.close();
    }
  });
});
