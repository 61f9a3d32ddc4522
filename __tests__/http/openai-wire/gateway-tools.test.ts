/**
 * Tools, structured outputs, refusals and pass-through parameters through the OpenAI-compatible gateway, with the
 * official openai SDK as the client over real HTTP (Koa and Express), and failover from a primary that returns a
 * bad tool call, a non-JSON structured output and a 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
afterEach(() => {
  fake.setBehavior('big', {});
  fake.setBehavior('small', {});
  fake.resetRequests();
});

interface Served {
  client: OpenAI;
  close(): Promise<void>;
}

async function start(adapter: 'koa' | 'express'): Promise<Served> {
  const options: LlmResilienceOptions = {
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
    ],
    cache: false,
  };
  let handler: http.RequestListener;
  let closeLlm: () => Promise<void>;
  if (adapter === 'koa') {
    const llm = llmResilience(options);
    const router = openAICompatibleRouter({ apiKeys: [KEY] });
    const app = new Koa();
    app.silent = true;
    app.use(llm).use(router.routes());
    handler = app.callback();
    closeLlm = () => llm.close();
  } else {
    const llm = llmExpress(options as Parameters<typeof llmExpress>[0]);
    const app = express();
    app.use(llm, openAICompatibleExpress({ apiKeys: [KEY] }));
    handler = app;
    closeLlm = () => llm.close();
  }
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    client: new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeLlm();
    },
  };
}

const weather = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
};
const messages = [{ role: 'user' as const, content: 'weather in Paris?' }];

describe.each(['koa', 'express'] as const)('the gateway with tools (%s)', (adapter) => {
  let s: Served;
  beforeEach(async () => {
    s = await start(adapter);
  });
  afterEach(() => s.close());

  it('a tool-call answer: message.tool_calls, content null, finish_reason tool_calls; tools, tool_choice and parallel_tool_calls reach the provider', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_x1' }] });
    const c = await s.client.chat.completions.create({ model: 'default', messages, tools: [weather], tool_choice: 'required', parallel_tool_calls: false });
    expect(c.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ id: 'call_x1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } });
    expect(fake.requests('big')[0].body).toMatchObject({ tools: [weather], tool_choice: 'required', parallel_tool_calls: false });
  });

  it('fails over from a bad tool call and from a 500: the client gets the backup\'s good call, the bad one never', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'get_weather', arguments: '{"city": ' }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const c = await s.client.chat.completions.create({ model: 'default', messages, tools: [weather] });
    expect(c.model).toBe('small');
    expect((c.choices[0].message.tool_calls?.[0] as { function: { arguments: string } }).function.arguments).toBe('{"city":"Paris"}');
    fake.setBehavior('big', { mode: 'error', status: 500 });
    const d = await s.client.chat.completions.create({ model: 'default', messages, tools: [weather] });
    expect(d.model).toBe('small');
  });

  it('streams tool calls as delta.tool_calls chunks the SDK assembles, after the answer passed its checks (a bad call failed over first)', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'nope', arguments: {} }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_weather', arguments: { city: 'Lyon' } }] });
    const stream = s.client.chat.completions.stream({ model: 'default', messages, tools: [weather] });
    const done = await stream.finalChatCompletion();
    expect(done.choices[0].finish_reason).toBe('tool_calls');
    expect(done.choices[0].message.tool_calls?.map((t) => (t as { function: { arguments: string } }).function.arguments)).toEqual(['{"city":"Paris"}', '{"city":"Lyon"}']);
    expect(fake.requests('big')).toHaveLength(1);
  });

  it('json_schema: an answer that is not JSON or does not match fails over; the SDK\'s parse() gets the backup\'s', async () => {
    fake.setBehavior('big', { text: 'Here you go: title' });
    fake.setBehavior('small', { text: '{"title":"ok"}' });
    const format = { type: 'json_schema' as const, json_schema: { name: 'doc', strict: true, schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'], additionalProperties: false } } };
    const c = await s.client.chat.completions.parse({ model: 'default', messages, response_format: format });
    expect(c.choices[0].message.parsed).toEqual({ title: 'ok' });
    expect(c.model).toBe('small');
    expect(fake.requests('big')[0].body.response_format).toEqual(format);
  });

  it('a refusal is the message\'s refusal (content null), from the model that refused', async () => {
    fake.setBehavior('big', { refusal: 'I cannot help with that.' });
    const c = await s.client.chat.completions.create({ model: 'default', messages });
    expect(c.choices[0].message).toMatchObject({ content: null, refusal: 'I cannot help with that.' });
    expect(c.model).toBe('big');
    const st = await s.client.chat.completions.stream({ model: 'default', messages }).finalChatCompletion();
    expect(st.choices[0].message.refusal).toBe('I cannot help with that.');
  });

  it('passes every other parameter through unchanged (penalties, logprobs, reasoning_effort, max_completion_tokens as such, unknown fields) and returns logprobs and system_fingerprint', async () => {
    fake.setBehavior('big', { text: 'two words' });
    const params = { frequency_penalty: 0.5, presence_penalty: 0.2, logit_bias: { '1': 2 }, logprobs: true, top_logprobs: 2, reasoning_effort: 'low' as const, max_completion_tokens: 40, user: 'u', metadata: { k: 'v' }, store: false, service_tier: 'auto' as const };
    const c = await s.client.chat.completions.create({ model: 'default', messages, ...params, ...({ a_future_field: { x: 1 } } as object) });
    const body = fake.requests('big')[0].body;
    expect(body).toMatchObject({ ...params, a_future_field: { x: 1 } });
    expect(body.max_tokens).toBeUndefined();
    expect(c.choices[0].logprobs?.content?.map((t) => t.token)).toEqual(['two ', 'words']);
    expect(c.system_fingerprint).toBe('fp_fake');
  });

  it('n > 1: every choice returned, each judged (a bad one fails over)', async () => {
    fake.setBehavior('big', { text: 'answer' });
    const c = await s.client.chat.completions.create({ model: 'default', messages, n: 3 });
    expect(c.choices.map((x) => [x.index, x.message.content])).toEqual([[0, 'answer'], [1, 'answer #2'], [2, 'answer #3']]);
    expect(fake.requests('big')[0].body.n).toBe(3);
    // every choice must match the format: the primary's prose fails it, the backup's JSON passes
    fake.setBehavior('small', { text: '{"a":1}' });
    const j = await s.client.chat.completions.create({ model: 'default', messages, n: 2, response_format: { type: 'json_object' } });
    expect(j.model).toBe('small');
    await expect(s.client.chat.completions.create({ model: 'default', messages, n: 2, stream: true })).rejects.toMatchObject({ status: 400 });
  });

  it('bad tools are a 400 naming the field, before any upstream call', async () => {
    const err = await s.client.chat.completions.create({ model: 'default', messages, tools: [weather, weather] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toMatch(/tools\.\[1\]\.function\.name/);
    const legacy = await s.client.chat.completions.create({ model: 'default', messages, functions: [{ name: 'f' }] } as never).catch((e: unknown) => e);
    expect(legacy).toMatchObject({ status: 400 });
    expect(fake.requests()).toHaveLength(0);
  });
});
