/**
 * A streamed answer of the OpenAI-compatible gateway names the model that answers in every chunk, from the first
 * on (the provider's model id, as OpenAI's chunks do), never the alias the client asked for: in Koa and in
 * Express, through the request's own `llm` and with the gateway's own engine, with and without `exposeHeaders`.
 * Driven by the official openai SDK and by the AI SDK, whose `streamText` takes its `modelId` from the chunks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAI } from '@ai-sdk/openai';
import { streamText } from 'ai';
import express from 'express';
import Koa from 'koa';
import OpenAI from 'openai';
import { llmExpress, llmResilience, openAICompatibleExpress, openAICompatibleRouter } from '../../../lib';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';

const KEY = 'gateway-key-0123456789';
let fake: FakeLlm;

beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
afterEach(() => fake.setBehavior('big', {}));

interface Served {
  base: string;
  close(): Promise<void>;
}

async function start(adapter: 'koa' | 'express', ownEngine: boolean, exposeHeaders: boolean): Promise<Served> {
  const options: LlmResilienceOptions = {
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
    ],
    cache: false,
    breaker: { volumeThreshold: 1000 },
    exposeHeaders,
  };
  let handler: http.RequestListener;
  let closeLlm: () => Promise<void>;
  if (adapter === 'koa') {
    const llm = llmResilience(options);
    const router = openAICompatibleRouter({ apiKeys: [KEY], ...(ownEngine ? { llm } : {}) });
    const app = new Koa();
    app.silent = true;
    if (!ownEngine) app.use(llm);
    app.use(router.routes());
    handler = app.callback();
    closeLlm = () => llm.close();
  } else {
    const llm = llmExpress(options as Parameters<typeof llmExpress>[0]);
    const app = express();
    if (!ownEngine) app.use(llm);
    app.use(openAICompatibleExpress({ apiKeys: [KEY], ...(ownEngine ? { llm } : {}) }));
    handler = app;
    closeLlm = () => llm.close();
  }
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeLlm();
    },
  };
}

const CASES = (['koa', 'express'] as const).flatMap((adapter) =>
  [false, true].flatMap((ownEngine) => [false, true].map((expose) => [`${adapter}, ${ownEngine ? 'its own engine' : 'the request\'s llm'}, exposeHeaders ${expose}`, adapter, ownEngine, expose] as const)),
);

describe.each(CASES)('streamed chunks name the answering model: %s', (_name, adapter, ownEngine, expose) => {
  let s: Served;
  beforeAll(async () => {
    s = await start(adapter, ownEngine, expose);
  });
  afterAll(() => s.close());

  const models = async (model: string): Promise<{ models: string[]; text: string; header: string | null }> => {
    const client = new OpenAI({ baseURL: s.base, apiKey: KEY, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'stream please' }], stream: true, stream_options: { include_usage: true } }).withResponse();
    const seen: string[] = [];
    let text = '';
    for await (const chunk of stream) {
      seen.push(chunk.model);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    return { models: seen, text, header: response.headers.get('x-llm-model') };
  };

  it('the first model of the chain, in every chunk, the role chunk included', async () => {
    const got = await models('default');
    expect(got.text).toBe('big answer: stream please');
    expect(got.models.length).toBeGreaterThanOrEqual(4); // role, content, finish, usage
    expect(new Set(got.models)).toEqual(new Set(['big']));
    expect(got.header).toBe(expose ? 'smart' : null);
  });

  it('after failing over before the first token, the model that answers, in every chunk', async () => {
    fake.setBehavior('big', { mode: 'error' });
    const got = await models('default');
    expect(got.text).toBe('small answer: stream please');
    expect(new Set(got.models)).toEqual(new Set(['small']));
    expect(got.header).toBe(expose ? 'fast' : null);
  });

  it('the AI SDK\'s streamText reports the answering model as its modelId', async () => {
    fake.setBehavior('big', { mode: 'error' });
    const model = createOpenAI({ baseURL: s.base, apiKey: KEY }).chat('default');
    const r = streamText({ model, prompt: 'hello', maxRetries: 0 });
    let text = '';
    for await (const delta of r.textStream) text += delta;
    expect(text).toBe('small answer: hello');
    expect((await r.response).modelId).toBe('small');
  });
});
