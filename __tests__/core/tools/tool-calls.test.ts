/**
 * Tools through the chain, over real HTTP (the openai SDK against the fake provider): tool-call answers are
 * answers; a bad tool call (a tool not offered, arguments that are not JSON or do not match the tool's parameters,
 * a toolChoice ignored) is a failed attempt and the next model answers, without counting against the model's
 * breaker; refusals are answers (or fall back with onRefusal: 'fallback'); tool-call and refusal answers are never
 * cached; the cache key covers the tools; json_object / json_schema formats are checked; parameters pass through.
 */
import { createEngine, type LlmEngine } from '../../../lib';
import { RequestError } from '../../../lib/errors';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { EngineOptions, ToolDefinition } from '../../../lib/types';

let fake: FakeLlm;
let engine: LlmEngine | undefined;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  fake.resetRequests();
  fake.setBehavior('p', {});
  fake.setBehavior('b', {});
});

const weather: ToolDefinition = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
};
const time: ToolDefinition = { type: 'function', function: { name: 'get_time' } };

function start(extra: Partial<EngineOptions> = {}): LlmEngine {
  engine = createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
    ],
    breaker: { volumeThreshold: 3, errorThresholdPercentage: 50 },
    ...extra,
  });
  return engine;
}
const ask = (content = 'weather in Paris?') => [{ role: 'user' as const, content }];

describe('tool calls through the chain', () => {
  it('an answer made only of tool calls is an answer: toolCalls in OpenAI\'s shape, finishReason tool_calls; the tools, toolChoice and parallelToolCalls reach the provider', async () => {
    fake.setBehavior('p', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_abc' }] });
    const e = start();
    const r = await e.complete({ messages: ask(), tools: [weather, time], toolChoice: 'auto', parallelToolCalls: false });
    expect(r).toMatchObject({ model: 'primary', fallback: false, finishReason: 'tool_calls', text: '' });
    expect(r.toolCalls).toEqual([{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    const sent = fake.requests('p')[0].body;
    expect(sent).toMatchObject({ tools: [weather, time], tool_choice: 'auto', parallel_tool_calls: false });
    expect(fake.requests('b')).toHaveLength(0);
  });

  it('a conversation carrying earlier tool calls and tool results passes unchanged', async () => {
    fake.setBehavior('p', { text: 'It is sunny in Paris.' });
    const e = start();
    const messages = [
      ...ask(),
      { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool' as const, tool_call_id: 'call_1', content: '{"sky":"sunny"}' },
    ];
    const r = await e.complete({ messages, tools: [weather] });
    expect(r.text).toBe('It is sunny in Paris.');
    expect(r.toolCalls).toBeUndefined();
    expect(fake.requests('p')[0].body.messages).toEqual(messages);
  });

  const bad: [string, Parameters<FakeLlm['setBehavior']>[1], Record<string, unknown>, RegExp][] = [
    ['a tool that was not offered', { toolCalls: [{ name: 'delete_everything', arguments: {} }] }, {}, /does not offer/],
    ['arguments that are not JSON', { toolCalls: [{ name: 'get_weather', arguments: '{"city": "Par' }] }, {}, /not JSON/],
    ['arguments that are JSON but not an object', { toolCalls: [{ name: 'get_weather', arguments: '["Paris"]' }] }, {}, /not a JSON object/],
    ['arguments that do not match the parameters', { toolCalls: [{ name: 'get_weather', arguments: { town: 'Paris' } }] }, {}, /do not match its parameters/],
    ['prose where toolChoice is required', { text: 'I think it is sunny.' }, { toolChoice: 'required' }, /requires one/],
    ['another tool than the named one', { toolCalls: [{ name: 'get_time', arguments: {} }] }, { toolChoice: { type: 'function', function: { name: 'get_weather' } } }, /requires "get_weather"/],
    ['a call where toolChoice is none', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }, { toolChoice: 'none' }, /allows none/],
    ['two calls where parallelToolCalls is false', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_time', arguments: {} }] }, { parallelToolCalls: false }, /allows one/],
  ];
  it.each(bad)('%s: the attempt is invalid, the next model answers, and it is not counted against the model', async (_name, behavior, params, message) => {
    fake.setBehavior('p', behavior);
    // the backup answers as the request allows: one call to get_weather, or prose where no call is allowed
    const prose = (params as { toolChoice?: unknown }).toolChoice === 'none';
    fake.setBehavior('b', prose ? { text: 'Sunny.' } : { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const e = start();
    const tools = [weather, time];
    for (let i = 0; i < 4; i++) {
      const r = await e.complete({ messages: ask(`weather ${i}`), tools, ...params } as never);
      expect(r.attempts[0]).toMatchObject({ model: 'primary', outcome: 'invalid' });
      expect(r.attempts[0].message).toMatch(message);
      expect(r).toMatchObject({ model: 'backup', fallback: true, finishReason: prose ? 'stop' : 'tool_calls' });
    }
    // four invalid answers the request could have induced: the breaker did not open (volumeThreshold 3)
    expect(e.status().models[0].state).toBe('closed');
    expect(fake.requests('p')).toHaveLength(4);
  });

  it('a tool call cut by the token limit (arguments cut short) fails over', async () => {
    fake.setBehavior('p', { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Pa' }], mode: 'truncated', text: 'x' });
    fake.setBehavior('b', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const r = await start().complete({ messages: ask(), tools: [weather] });
    expect(r).toMatchObject({ model: 'backup', finishReason: 'tool_calls' });
    expect(r.attempts[0].outcome).toBe('invalid');
  });

  it('tool-call answers are never cached, and the cache key covers the tools: other tools, another toolChoice, another answer', async () => {
    const e = start();
    fake.setBehavior('p', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const req = { messages: ask(), tools: [weather], temperature: 0 };
    await e.complete(req);
    const again = await e.complete(req);
    expect(again.cached).toBe(false);
    expect(fake.requests('p')).toHaveLength(2);
    // text answers with tools are cached, under a key of their own
    fake.setBehavior('p', { text: 'plain text' });
    const a = await e.complete({ ...req, messages: ask('hello') });
    const b = await e.complete({ ...req, messages: ask('hello') });
    expect([a.cached, b.cached]).toEqual([false, true]);
    const other = await e.complete({ ...req, messages: ask('hello'), tools: [weather, time] });
    const choice = await e.complete({ ...req, messages: ask('hello'), toolChoice: 'none' });
    const parallel = await e.complete({ ...req, messages: ask('hello'), parallelToolCalls: true });
    const none = await e.complete({ messages: ask('hello'), temperature: 0 });
    expect([other.cached, choice.cached, parallel.cached, none.cached]).toEqual([false, false, false, false]);
  });

  it('a caller editing its tool calls changes nothing another caller gets (joined flights get their own copies)', async () => {
    fake.setBehavior('p', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], latencyMs: 50 });
    const e = start();
    const req = { messages: ask(), tools: [weather], temperature: 0 };
    const [a, b] = await Promise.all([e.complete(req), e.complete(req)]);
    expect(fake.requests('p')).toHaveLength(1);
    expect([a.coalesced, b.coalesced].sort()).toEqual([false, true]);
    a.toolCalls![0].function.arguments = 'changed';
    expect(b.toolCalls![0].function.arguments).toBe('{"city":"Paris"}');
  });

  it('bad tools are the caller\'s 400, naming each field, before any call', async () => {
    const e = start();
    const attempts: [Record<string, unknown>, RegExp][] = [
      [{ tools: [weather, weather] }, /\/tools\/1\/function\/name: "get_weather" is offered twice/],
      [{ tools: [{ type: 'function', function: { name: 'x', parameters: { type: 'no-such-type' } } }] }, /\/tools\/0\/function\/parameters/],
      [{ tools: [{ type: 'function', function: { name: 'has space' } }] }, /\/tools\/0\/function\/name/],
      [{ tools: [weather], toolChoice: { type: 'function', function: { name: 'nope' } } }, /\/toolChoice\/function\/name: "nope" is not one of the offered tools/],
      [{ toolChoice: 'required' }, /\/toolChoice: needs `tools`/],
      [{ tools: [{ type: 'retrieval' }] }, /\/tools\/0/],
      [{ onRefusal: 'maybe' }, /\/onRefusal/],
    ];
    for (const [params, message] of attempts) {
      const err = await e.complete({ messages: ask(), ...params } as never).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(RequestError);
      expect((err as RequestError).status).toBe(400);
      expect((err as Error).message).toMatch(message);
    }
    expect(fake.requests()).toHaveLength(0);
  });
});

describe('refusals', () => {
  it('a refusal is an answer: returned as refusal, not cached, not a failure of the model', async () => {
    fake.setBehavior('p', { refusal: 'I cannot help with that.' });
    const e = start();
    const req = { messages: ask(), temperature: 0 };
    const r = await e.complete(req);
    expect(r).toMatchObject({ model: 'primary', refusal: 'I cannot help with that.', text: '', fallback: false });
    expect((await e.complete(req)).cached).toBe(false);
    expect(fake.requests('p')).toHaveLength(2);
    expect(fake.requests('b')).toHaveLength(0);
  });

  it('onRefusal: \'fallback\' (per request, or as an option) tries the next model, without counting it against the refusing one', async () => {
    fake.setBehavior('p', { refusal: 'No.' });
    const e = start();
    const r = await e.complete({ messages: ask(), onRefusal: 'fallback' });
    expect(r).toMatchObject({ model: 'backup', fallback: true });
    expect(r.refusal).toBeUndefined();
    expect(r.attempts[0]).toMatchObject({ model: 'primary', outcome: 'invalid' });
    await e.close();
    const e2 = start({ onRefusal: 'fallback' });
    for (let i = 0; i < 4; i++) expect((await e2.complete({ messages: ask(`q${i}`) })).model).toBe('backup');
    expect(e2.status().models[0].state).toBe('closed');
    // a request may still take the refusal
    expect((await e2.complete({ messages: ask('r'), onRefusal: 'return' })).refusal).toBe('No.');
  });
});

describe('structured outputs by responseFormat', () => {
  const schema = { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] };
  it('json_schema: an answer that is not JSON or does not match is invalid, the next model answers; the format is sent as written', async () => {
    const format = { type: 'json_schema' as const, json_schema: { name: 'doc', schema, strict: true } };
    fake.setBehavior('p', { text: 'not json' });
    fake.setBehavior('b', { text: '{"title":"ok"}' });
    const e = start();
    const r = await e.complete({ messages: ask(), responseFormat: format });
    expect(r).toMatchObject({ model: 'backup', json: { title: 'ok' } });
    expect(fake.requests('p')[0].body.response_format).toEqual(format);
    fake.setBehavior('p', { text: '{"name":"x"}' });
    const m = await e.complete({ messages: ask('other'), responseFormat: format });
    expect(m.model).toBe('backup');
    expect(m.attempts[0].message).toMatch(/does not match the schema/);
  });

  it('json_object: an answer that is not JSON is invalid', async () => {
    fake.setBehavior('p', { text: 'Sure! {"a":1}' });
    fake.setBehavior('b', { text: '{"a":1}' });
    const r = await start().complete({ messages: ask(), responseFormat: { type: 'json_object' } });
    expect(r).toMatchObject({ model: 'backup', text: '{"a":1}' });
    expect(r.attempts[0].message).toMatch(/not valid JSON/);
  });
});

describe('providerOptions.openai', () => {
  it('passes every parameter through unchanged (max_completion_tokens replaces max_tokens), never the library\'s own fields', async () => {
    fake.setBehavior('p', { text: 'ok' });
    const e = start();
    const openai = { logprobs: true, top_logprobs: 2, frequency_penalty: 0.5, presence_penalty: -0.5, logit_bias: { '50256': -100 }, reasoning_effort: 'low', max_completion_tokens: 64, user: 'u1', metadata: { a: 'b' }, service_tier: 'auto', model: 'evil', stream: true, some_future_field: { x: 1 } };
    const r = await e.complete({ messages: ask(), maxTokens: 64, providerOptions: { openai } });
    expect(r.text).toBe('ok');
    const body = fake.requests('p')[0].body;
    const { model: _m, stream: _s, ...passed } = openai;
    expect(body).toMatchObject(passed);
    expect(body.model).toBe('p');
    expect(body.stream).toBeUndefined();
    expect(body.max_tokens).toBeUndefined();
    // the key covers them: another value is another entry
    const again = await e.complete({ messages: ask(), maxTokens: 64, providerOptions: { openai: { ...openai, user: 'u2' } } });
    expect(again.cached).toBe(false);
  });

  it('a __proto__ key is passed as a field, never as the body\'s prototype', async () => {
    fake.setBehavior('p', { text: 'ok' });
    const openai = JSON.parse('{"__proto__": {"polluted": true}, "user": "u"}') as Record<string, unknown>;
    await start().complete({ messages: ask(), providerOptions: { openai } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(fake.requests('p')[0].body).toMatchObject({ user: 'u' });
  });
});

describe('tool calls in streams', () => {
  it('stream(): text as it comes, the tool calls (assembled from their pieces) once the answer passed its checks, in result and parts()', async () => {
    fake.setBehavior('p', { text: 'Looking it up. ', toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_time', arguments: {} }] });
    const s = start().stream({ messages: ask(), tools: [weather, time] });
    const parts = [];
    for await (const p of s.parts()) parts.push(p);
    const text = parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('');
    expect(text).toBe('Looking it up. ');
    expect(parts.slice(-2)).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } } },
      { type: 'tool-call', toolCall: { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } } },
    ]);
    const r = await s.result;
    expect(r).toMatchObject({ model: 'primary', finishReason: 'tool_calls', text: 'Looking it up. ' });
    expect(r.toolCalls).toHaveLength(2);
  });

  it('a bad tool call before any text fails over: the next model streams, nothing of the bad one is delivered', async () => {
    fake.setBehavior('p', { toolCalls: [{ name: 'get_weather', arguments: '{"city":' }] });
    fake.setBehavior('b', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const s = start().stream({ messages: ask(), tools: [weather] });
    const parts = [];
    for await (const p of s.parts()) parts.push(p);
    expect(parts).toEqual([{ type: 'tool-call', toolCall: { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } } }]);
    const r = await s.result;
    expect(r).toMatchObject({ model: 'backup', fallback: true });
    expect(r.attempts.map((a) => `${a.model}:${a.outcome}`)).toEqual(['primary:invalid', 'backup:success']);
  });

  it('a refusal streamed is the result\'s refusal; with onRefusal: \'fallback\' the next model streams', async () => {
    fake.setBehavior('p', { refusal: 'No.' });
    const e = start();
    const r = await e.stream({ messages: ask() }).final();
    expect(r).toMatchObject({ model: 'primary', refusal: 'No.', text: '' });
    const f = await e.stream({ messages: ask('again'), onRefusal: 'fallback' }).final();
    expect(f.model).toBe('backup');
    expect(f.refusal).toBeUndefined();
  });
});
