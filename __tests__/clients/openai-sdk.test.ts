/**
 * The official openai SDK against the gateway over real HTTP: tools with `create`, a multi-step `runTools` loop with
 * a zod function, and `parse` with `zodResponseFormat` and a strict zod tool. The chain's primary misbehaves (a bad
 * tool call, prose where JSON is due, a 500) and the backup's answer is what the SDK gets.
 */
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { GATEWAY_KEY, startGateway, type Gateway } from './gateway-server';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const messages = [{ role: 'user' as const, content: 'weather in Paris?' }];

describe.each(['koa', 'express'] as const)('the openai SDK through the gateway (%s)', (adapter) => {
  let gw: Gateway;
  let client: OpenAI;
  beforeEach(async () => {
    fake.setBehavior('big', {});
    fake.setBehavior('small', {});
    fake.resetRequests();
    gw = await startGateway(fake, adapter);
    client = new OpenAI({ apiKey: GATEWAY_KEY, baseURL: gw.url, maxRetries: 0 });
  });
  afterEach(() => gw.close());

  it('create with tools: a call to an unknown tool, then arguments off the schema, then a 500 each fail over to the backup\'s call', async () => {
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_ok' }] });
    const primaries = [
      { toolCalls: [{ name: 'get_time', arguments: { city: 'Paris' } }] },
      { toolCalls: [{ name: 'get_weather', arguments: { town: 'Paris' } }] },
      { mode: 'error' as const, status: 500 },
    ];
    // the primary's calls so far: its 500 is retried once on the same model before the fail-over
    const primaryCalls = [1, 2, 4];
    for (const [i, primary] of primaries.entries()) {
      fake.setBehavior('big', primary);
      const c = await client.chat.completions.create({ model: 'default', messages, tools: [weatherTool] });
      expect(c.model).toBe('small');
      expect(c.choices[0].finish_reason).toBe('tool_calls');
      expect(c.choices[0].message.tool_calls).toEqual([{ id: 'call_ok', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
      expect(fake.requests('big')).toHaveLength(primaryCalls[i]);
      expect(fake.requests('small')).toHaveLength(i + 1);
    }
    // the tools reached both models as the client sent them
    expect(fake.requests('small')[0].body.tools).toEqual([weatherTool]);
  });

  it('runTools with a zod function: the SDK runs the backup\'s call, sends the result back, and ends on the text answer', async () => {
    const seen: { city: string }[] = [];
    // the primary's call misses the required `city`: every turn with a tool call fails over to the backup
    fake.setBehavior('big', { toolCalls: [{ name: 'get_weather', arguments: {} }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_w' }] });
    const runner = client.chat.completions.runTools({
      model: 'default',
      messages,
      tools: [
        zodFunction({
          name: 'get_weather',
          parameters: z.object({ city: z.string() }),
          function: (args: { city: string }) => {
            seen.push(args);
            // the model's next turn, once it has the tool's result: the primary answers in prose
            fake.setBehavior('big', { text: 'Sunny in Paris, 21°C.' });
            return { city: args.city, tempC: 21 };
          },
        }),
      ],
    });
    const text = await runner.finalContent();
    expect(text).toBe('Sunny in Paris, 21°C.');
    expect(seen).toEqual([{ city: 'Paris' }]);
    const final = await runner.finalChatCompletion();
    expect(final.model).toBe('big');
    // turn 1: primary (bad call) then backup; turn 2: primary only
    expect(fake.requests('big')).toHaveLength(2);
    expect(fake.requests('small')).toHaveLength(1);
    const second = fake.requests('big')[1].body.messages as { role: string; tool_call_id?: string; content?: unknown; tool_calls?: unknown }[];
    expect(second.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(second[1].tool_calls).toEqual([{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(second[2]).toMatchObject({ tool_call_id: 'call_w' });
    expect(JSON.parse(String(second[2].content))).toEqual({ city: 'Paris', tempC: 21 });
  });

  it('parse with zodResponseFormat: prose from the primary, then JSON off the schema, fail over; parsed is the backup\'s object', async () => {
    const Doc = z.object({ title: z.string(), pages: z.number() });
    fake.setBehavior('small', { text: '{"title":"ok","pages":3}' });
    for (const [i, text] of ['Here is your doc: ok, 3 pages', '{"title":"ok","pages":"three"}'].entries()) {
      fake.setBehavior('big', { text });
      const c = await client.chat.completions.parse({ model: 'default', messages, response_format: zodResponseFormat(Doc, 'doc') });
      expect(c.model).toBe('small');
      expect(c.choices[0].message.parsed).toEqual({ title: 'ok', pages: 3 });
      expect(fake.requests('big')).toHaveLength(i + 1);
      expect(fake.requests('small')).toHaveLength(i + 1);
    }
    expect(fake.requests('big')[0].body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'doc', strict: true } });
  });

  it('parse with a strict zod tool: the primary\'s arguments that are not JSON fail over; parsed_arguments is the backup\'s', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'get_weather', arguments: '{"city": Paris' }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }] });
    const c = await client.chat.completions.parse({
      model: 'default',
      messages,
      tools: [zodFunction({ name: 'get_weather', parameters: z.object({ city: z.string() }) })],
    });
    expect(c.model).toBe('small');
    expect(c.choices[0].message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather', parsed_arguments: { city: 'Lyon' } } });
    expect(fake.requests('big')).toHaveLength(1);
    expect(fake.requests('small')).toHaveLength(1);
    expect(fake.requests('big')[0].body.tools).toMatchObject([{ type: 'function', function: { name: 'get_weather', strict: true } }]);
  });
});
