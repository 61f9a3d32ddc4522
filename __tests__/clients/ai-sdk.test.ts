/**
 * The Vercel AI SDK (`ai` with `@ai-sdk/openai`, on the Chat Completions API) against the gateway over real HTTP:
 * multi-step `generateText` and `streamText` with a tool, and `generateObject` with a zod schema. The chain's primary
 * misbehaves (a bad tool call, prose where JSON is due, a 500) and the backup's answer is what the SDK gets.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { GATEWAY_KEY, startGateway, type Gateway } from './gateway-server';

let fake: FakeLlm;
let gw: Gateway;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.setBehavior('big', {});
  fake.setBehavior('small', {});
  fake.resetRequests();
});

const model = () => createOpenAI({ baseURL: gw.url, apiKey: GATEWAY_KEY }).chat('default');

/** A weather tool whose execution makes the primary answer in prose on the model's next turn. */
function weather(seen: { city: string }[]) {
  return tool({
    description: 'weather of a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      seen.push({ city });
      fake.setBehavior('big', { text: `Sunny in ${city}.` });
      return { city, tempC: 21 };
    },
  });
}

describe.each(['koa', 'express'] as const)('the AI SDK through the gateway (%s)', (adapter) => {
  beforeAll(async () => {
    gw = await startGateway(fake, adapter);
  });
  afterAll(() => gw.close());

  it('generateText, multi-step: the primary\'s call to an unknown tool fails over, the SDK runs the backup\'s call, the primary ends in prose', async () => {
    const seen: { city: string }[] = [];
    fake.setBehavior('big', { toolCalls: [{ name: 'get_time', arguments: { city: 'Paris' } }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_w' }] });
    const r = await generateText({ model: model(), prompt: 'weather in Paris?', tools: { get_weather: weather(seen) }, stopWhen: stepCountIs(3), maxRetries: 0 });
    expect(r.text).toBe('Sunny in Paris.');
    expect(seen).toEqual([{ city: 'Paris' }]);
    expect(r.steps).toHaveLength(2);
    expect(r.steps[0].toolCalls).toMatchObject([{ toolCallId: 'call_w', toolName: 'get_weather', input: { city: 'Paris' } }]);
    expect(r.steps[0].toolResults).toMatchObject([{ toolCallId: 'call_w', output: { city: 'Paris', tempC: 21 } }]);
    expect(r.steps[0].response.modelId).toBe('small');
    expect(r.response.modelId).toBe('big');
    expect(fake.requests('big')).toHaveLength(2);
    expect(fake.requests('small')).toHaveLength(1);
    const second = fake.requests('big')[1].body.messages as { role: string; tool_call_id?: string }[];
    expect(second.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(second[2].tool_call_id).toBe('call_w');
  });

  it('streamText, multi-step: a 500 from the primary fails over, the streamed tool call is assembled and run, then the text streams', async () => {
    const seen: { city: string }[] = [];
    fake.setBehavior('big', { mode: 'error', status: 500 });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Lyon' }, id: 'call_s' }] });
    const r = streamText({ model: model(), prompt: 'weather in Lyon?', tools: { get_weather: weather(seen) }, stopWhen: stepCountIs(3), maxRetries: 0 });
    let streamed = '';
    for await (const t of r.textStream) streamed += t;
    expect(streamed).toBe('Sunny in Lyon.');
    expect(seen).toEqual([{ city: 'Lyon' }]);
    const steps = await r.steps;
    expect(steps).toHaveLength(2);
    expect(steps[0].toolCalls).toMatchObject([{ toolCallId: 'call_s', toolName: 'get_weather', input: { city: 'Lyon' } }]);
    expect(steps[0].response.modelId).toBe('small');
    expect((await r.response).modelId).toBe('big');
    // the first step's 500 and its one retry on the same model, then the second step
    expect(fake.requests('big')).toHaveLength(3);
    expect(fake.requests('small')).toHaveLength(1);
    expect(fake.requests('big')[2].body.stream).toBe(true);
  });

  it('streamText: a bad call from the primary (arguments off the schema) is never streamed; the backup\'s call is', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'get_weather', arguments: { town: 'Lyon' } }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Lyon' }, id: 'call_t' }] });
    const r = streamText({ model: model(), prompt: 'weather in Lyon?', tools: { get_weather: tool({ inputSchema: z.object({ city: z.string() }) }) }, maxRetries: 0 });
    const calls: unknown[] = [];
    for await (const part of r.fullStream) if (part.type === 'tool-call') calls.push({ id: part.toolCallId, input: part.input });
    expect(calls).toEqual([{ id: 'call_t', input: { city: 'Lyon' } }]);
    expect(await r.finishReason).toBe('tool-calls');
    expect((await r.response).modelId).toBe('small');
    expect(fake.requests('big')).toHaveLength(1);
    expect(fake.requests('small')).toHaveLength(1);
  });

  it('generateObject with a zod schema: prose, then JSON off the schema, from the primary fail over; the object is the backup\'s', async () => {
    const Doc = z.object({ title: z.string(), pages: z.number() });
    fake.setBehavior('small', { text: '{"title":"ok","pages":3}' });
    for (const [i, text] of ['Here is your doc: ok, 3 pages', '{"title":"ok"}'].entries()) {
      fake.setBehavior('big', { text });
      const r = await generateObject({ model: model(), schema: Doc, prompt: 'a doc', maxRetries: 0 });
      expect(r.object).toEqual({ title: 'ok', pages: 3 });
      expect(r.response.modelId).toBe('small');
      expect(fake.requests('big')).toHaveLength(i + 1);
      expect(fake.requests('small')).toHaveLength(i + 1);
    }
    expect(fake.requests('big')[0].body.response_format).toMatchObject({ type: 'json_schema', json_schema: { schema: { required: ['title', 'pages'] } } });
  });
});
