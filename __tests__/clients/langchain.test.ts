/**
 * LangChain's `ChatOpenAI` (`@langchain/openai`, Chat Completions) against the gateway over real HTTP: `bindTools`
 * with `invoke` and `stream` (tool call chunks assembled), and `withStructuredOutput` by function calling and by
 * JSON schema. The chain's primary misbehaves (a bad tool call, prose where JSON is due, a 500) and the backup's
 * answer is what LangChain gets.
 *
 * LangChain turns a zod schema into JSON Schema with zod 4's `toJSONSchema`, which writes
 * `"$schema": "https://json-schema.org/draft/2020-12/schema"` into every tool's `parameters` and every
 * `response_format.json_schema.schema`: the gateway validates such schemas as draft 2020-12, and the same features
 * with plain JSON Schema (no `$schema`, read as draft-07) pass too.
 */
import { AIMessageChunk } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
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

const chat = () => new ChatOpenAI({ model: 'default', apiKey: GATEWAY_KEY, configuration: { baseURL: gw.url }, maxRetries: 0 });
const citySchema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
/** OpenAI's tool shape with plain JSON Schema: LangChain sends it as it is. */
const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'weather of a city', parameters: citySchema } };
const zodWeather = { name: 'get_weather', description: 'weather of a city', schema: z.object({ city: z.string() }) };
const docSchema = { type: 'object', properties: { title: { type: 'string' }, pages: { type: 'number' } }, required: ['title', 'pages'], additionalProperties: false };
const Doc = z.object({ title: z.string(), pages: z.number() });

describe.each(['koa', 'express'] as const)('LangChain ChatOpenAI through the gateway (%s)', (adapter) => {
  beforeAll(async () => {
    gw = await startGateway(fake, adapter);
  });
  afterAll(() => gw.close());

  it('bindTools + invoke: a call to an unknown tool from the primary fails over; tool_calls are the backup\'s', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'get_time', arguments: { city: 'Paris' } }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_l' }] });
    const m = await chat().bindTools([weather]).invoke('weather in Paris?');
    expect(m.tool_calls).toEqual([{ id: 'call_l', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' }]);
    expect(m.response_metadata).toMatchObject({ model_name: 'small', finish_reason: 'tool_calls' });
    expect(fake.requests('big')).toHaveLength(1);
    expect(fake.requests('small')).toHaveLength(1);
    expect(fake.requests('small')[0].body.tools).toMatchObject([{ type: 'function', function: { name: 'get_weather' } }]);
  });

  it('bindTools + stream: after a 500 from the primary, the backup\'s tool_call_chunks assemble into its calls', async () => {
    fake.setBehavior('big', { mode: 'error', status: 500 });
    fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_a' }, { name: 'get_weather', arguments: { city: 'Lyon' }, id: 'call_b' }] });
    let whole: AIMessageChunk | undefined;
    const chunkIds: (string | undefined)[] = [];
    for await (const c of await chat().bindTools([weather]).stream('weather in Paris and Lyon?')) {
      for (const t of c.tool_call_chunks ?? []) chunkIds.push(t.id);
      whole = whole === undefined ? c : whole.concat(c);
    }
    // the calls came as tool_call_chunks of the stream (LangChain merged them), not as one final message
    expect(chunkIds.filter((id) => id !== undefined)).toEqual(['call_a', 'call_b']);
    expect(whole?.tool_calls).toEqual([
      { id: 'call_a', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' },
      { id: 'call_b', name: 'get_weather', args: { city: 'Lyon' }, type: 'tool_call' },
    ]);
    expect(whole?.response_metadata).toMatchObject({ model_name: 'small' });
    expect(fake.requests('big')).toHaveLength(2); // the 500 and its one retry on the same model
    expect(fake.requests('small')).toHaveLength(1);
  });

  it('withStructuredOutput by function calling: arguments off the schema from the primary fail over; the object is the backup\'s', async () => {
    fake.setBehavior('big', { toolCalls: [{ name: 'doc', arguments: { title: 'ok', pages: 'three' } }] });
    fake.setBehavior('small', { toolCalls: [{ name: 'doc', arguments: { title: 'ok', pages: 3 } }] });
    const r = await chat().withStructuredOutput<{ title: string; pages: number }>(docSchema, { name: 'doc', method: 'functionCalling', includeRaw: true }).invoke('a doc');
    expect(r.parsed).toEqual({ title: 'ok', pages: 3 });
    expect(r.raw.response_metadata).toMatchObject({ model_name: 'small' });
    expect(fake.requests('big')).toHaveLength(1);
    expect(fake.requests('small')).toHaveLength(1);
    // LangChain forces the function: the gateway checks the answer against that choice too
    expect(fake.requests('big')[0].body.tool_choice).toMatchObject({ type: 'function', function: { name: 'doc' } });
  });

  it('withStructuredOutput by JSON schema: prose from the primary fails over; the object is the backup\'s', async () => {
    fake.setBehavior('big', { text: 'Here is your doc: ok, 3 pages' });
    fake.setBehavior('small', { text: '{"title":"ok","pages":3}' });
    const r = await chat().withStructuredOutput<{ title: string; pages: number }>(docSchema, { name: 'doc', method: 'jsonSchema', includeRaw: true }).invoke('a doc');
    expect(r.parsed).toEqual({ title: 'ok', pages: 3 });
    expect(r.raw.response_metadata).toMatchObject({ model_name: 'small' });
    expect(fake.requests('big')).toHaveLength(1);
    expect(fake.requests('small')).toHaveLength(1);
    expect(fake.requests('big')[0].body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'doc' } });
  });

  describe('with zod schemas (sent with a draft 2020-12 "$schema")', () => {
    it('bindTools with a zod tool + invoke: fails over from an unknown tool to the backup\'s call', async () => {
      fake.setBehavior('big', { toolCalls: [{ name: 'get_time', arguments: { city: 'Paris' } }] });
      fake.setBehavior('small', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_z' }] });
      const m = await chat().bindTools([zodWeather]).invoke('weather in Paris?');
      expect(m.tool_calls).toEqual([{ id: 'call_z', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' }]);
      expect(fake.requests('big')).toHaveLength(1);
      expect(fake.requests('small')).toHaveLength(1);
    });

    it('withStructuredOutput(zod, functionCalling): fails over from arguments off the schema', async () => {
      fake.setBehavior('big', { toolCalls: [{ name: 'doc', arguments: { title: 'ok', pages: 'three' } }] });
      fake.setBehavior('small', { toolCalls: [{ name: 'doc', arguments: { title: 'ok', pages: 3 } }] });
      const r = await chat().withStructuredOutput(Doc, { name: 'doc', method: 'functionCalling' }).invoke('a doc');
      expect(r).toEqual({ title: 'ok', pages: 3 });
      expect(fake.requests('small')).toHaveLength(1);
    });

    it('withStructuredOutput(zod, jsonSchema): fails over from prose', async () => {
      fake.setBehavior('big', { text: 'Here is your doc: ok, 3 pages' });
      fake.setBehavior('small', { text: '{"title":"ok","pages":3}' });
      const r = await chat().withStructuredOutput(Doc, { name: 'doc', method: 'jsonSchema' }).invoke('a doc');
      expect(r).toEqual({ title: 'ok', pages: 3 });
      expect(fake.requests('small')).toHaveLength(1);
    });
  });
});
