import { ProviderError } from '../../../lib/core/provider/chat-provider';
import { anthropicProvider } from '../../../lib/providers/anthropic/anthropic-provider';
import { anthropicRequest } from '../../../lib/providers/anthropic/anthropic-messages';
import { anthropicToolId } from '../../../lib/providers/anthropic/anthropic-tool-ids';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf } from './helpers';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const settings = { defaultMaxTokens: 4096, structuredOutputs: 'native' as const, sampling: 'omit' as const };

describe('the request the Anthropic provider sends (recorded by the fake Messages API)', () => {
  let fake: FakeLlm;
  let baseURL: string;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
    baseURL = `http://127.0.0.1:${fake.port}`;
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  it('maps system, merged turns, images, tool calls and their results (ids mapped alike), tools, tool choice and parameters', async () => {
    const provider = anthropicProvider({ apiKey: 'k', baseURL });
    const answer = await provider.complete(
      callOf({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use English.' }] },
          { role: 'user', content: 'first' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'second' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            ],
          },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_abc123', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
              { id: 'models/gemini:call.7', type: 'function', function: { name: 'weather', arguments: 'not json' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_abc123', content: 'sunny' },
          { role: 'tool', tool_call_id: 'models/gemini:call.7', content: [{ type: 'text', text: 'rain' }] },
          { role: 'user', content: 'and tomorrow?' },
        ],
        tools: [
          { type: 'function', function: { name: 'weather', description: 'The weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
          { type: 'function', function: { name: 'now' } },
        ],
        toolChoice: { type: 'function', function: { name: 'weather' } },
        parallelToolCalls: false,
        stop: 'END',
        temperature: 1.5,
        topP: 0.5,
        seed: 7,
      }),
    );
    expect(answer).toMatchObject({ text: 'claude-x answer: and tomorrow?', finishReason: 'stop', providerModel: 'claude-x' });
    const rs = fake.requests('claude-x');
    expect(rs).toHaveLength(1);
    const mapped = anthropicToolId('models/gemini:call.7');
    expect(mapped).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(rs[0].body).toEqual({
      model: 'claude-x',
      max_tokens: 4096,
      system: 'Be brief.\n\nUse English.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'first' },
            { type: 'text', text: 'second' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_abc123', name: 'weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: mapped, name: 'weather', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_abc123', content: 'sunny' },
            { type: 'tool_result', tool_use_id: mapped, content: 'rain' },
            { type: 'text', text: 'and tomorrow?' },
          ],
        },
      ],
      stop_sequences: ['END'],
      tools: [
        { name: 'weather', description: 'The weather of a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'tool', name: 'weather', disable_parallel_tool_use: true },
    });
  });

  it('sampling: \'send\' sends temperature, which the API (like the fake) refuses with a 400 the caller owns', async () => {
    const provider = anthropicProvider({ apiKey: 'k', baseURL, sampling: 'send' });
    await expect(provider.complete(callOf({ temperature: 0.2 }))).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/temperature: Extra inputs are not permitted/) });
    await expect(provider.complete(callOf())).resolves.toMatchObject({ finishReason: 'stop' });
  });

  it('sends a trailing assistant message as a prefill (its trailing space cut) and gets the rest of the answer', async () => {
    fake.setBehavior('claude-x', { text: 'The best answer is (B) Helios' });
    try {
      const provider = anthropicProvider({ apiKey: 'k', baseURL, defaultMaxTokens: 100 });
      const answer = await provider.complete(
        callOf({
          messages: [
            { role: 'user', content: 'Greek name for Sun? (A) Sol (B) Helios' },
            { role: 'assistant', content: 'The best answer is ' },
          ],
          maxTokens: 50,
        }),
      );
      expect(answer.text).toBe(' (B) Helios');
      const body = fake.requests('claude-x')[0].body;
      expect(body).toMatchObject({ max_tokens: 50, messages: [{ role: 'user' }, { role: 'assistant', content: 'The best answer is' }] });
    } finally {
      fake.setBehavior('claude-x', {});
    }
  });

  it('merges the request\'s providerOptions.anthropic into the body (null removes a field), and reports cache reads in the prompt tokens', async () => {
    const provider = anthropicProvider({ apiKey: 'k', baseURL });
    const plain = await provider.complete(callOf());
    const cached = await provider.complete(
      callOf({ stop: ['STOP'], providerOptions: { anthropic: { cache_control: { type: 'ephemeral' }, metadata: { user_id: 'u1' }, max_tokens: 99, stop_sequences: null, stream: true }, openai: { store: true } } }),
    );
    const [, second] = fake.requests('claude-x');
    expect(second.body).toMatchObject({ cache_control: { type: 'ephemeral' }, metadata: { user_id: 'u1' }, max_tokens: 99 });
    expect(second.body).not.toHaveProperty('stop_sequences');
    expect(second.body).not.toHaveProperty('stream'); // the provider's own: complete() is not streamed
    expect(second.body).not.toHaveProperty('store');
    // the fake reads half of a marked prompt from its cache: the prompt tokens stay the whole prompt
    expect(plain.usage?.promptTokens).toBeGreaterThan(3);
    expect(cached.usage).toEqual(plain.usage);
  });

  it('asks for a JSON schema with structured outputs (the SDK\'s strict form), or in the system prompt when told to or when it cannot be expressed', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string', minLength: 2 } }, required: ['name'] };
    const responseFormat = { type: 'json_schema' as const, json_schema: { name: 'person', schema } };
    await anthropicProvider({ apiKey: 'k', baseURL }).complete(callOf({ responseFormat }));
    await anthropicProvider({ apiKey: 'k', baseURL, structuredOutputs: 'instruction' }).complete(callOf({ responseFormat, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'x' }] }));
    const [native, instructed] = fake.requests('claude-x');
    expect(native.body.output_config).toEqual({ format: { type: 'json_schema', schema: expect.objectContaining({ type: 'object', additionalProperties: false, required: ['name'] }) } });
    expect(native.body).not.toHaveProperty('system');
    expect(instructed.body).not.toHaveProperty('output_config');
    expect(instructed.body.system).toBe(`S\n\nAnswer with JSON only, no prose and no code fences, matching this JSON Schema:\n${JSON.stringify(schema)}`);
    // no type at all: the SDK's helper cannot express it, the system prompt asks instead
    const untyped = anthropicRequest(callOf({ responseFormat: { type: 'json_schema', json_schema: { name: 'any', schema: { description: 'anything' } } } }), settings);
    expect(untyped).not.toHaveProperty('output_config');
    expect(untyped.system).toContain('"description":"anything"');
    expect(anthropicRequest(callOf({ responseFormat: { type: 'json_object' } }), settings).system).toMatch(/single JSON object/);
    // the request's own output_config (effort) is merged with the schema's format, not put in its place
    const both = anthropicRequest(callOf({ responseFormat, providerOptions: { anthropic: { output_config: { effort: 'low' } } } }), settings);
    expect(both.output_config).toEqual({ format: expect.objectContaining({ type: 'json_schema' }), effort: 'low' });
  });
});

describe('anthropicRequest', () => {
  it('leaves temperature and top_p out unless told to send them (then temperature is clamped to 0..1)', () => {
    const call = callOf({ temperature: 1.6, topP: 0.9, seed: 1 });
    const omitted = anthropicRequest(call, settings);
    expect(omitted).not.toHaveProperty('temperature');
    expect(omitted).not.toHaveProperty('top_p');
    expect(omitted).not.toHaveProperty('seed');
    expect(anthropicRequest(call, { ...settings, sampling: 'send' })).toMatchObject({ temperature: 1, top_p: 0.9 });
    expect(anthropicRequest(callOf({ temperature: -1 }), { ...settings, sampling: 'send' })).toMatchObject({ temperature: 0 });
  });
  const tools = [{ type: 'function' as const, function: { name: 't' } }];
  it.each([
    ['auto', undefined, { type: 'auto' }],
    ['none', undefined, { type: 'none' }],
    ['required', undefined, { type: 'any' }],
    ['required', false, { type: 'any', disable_parallel_tool_use: true }],
    [undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
  ] as const)('tool choice %s (parallel %s) is %j', (toolChoice, parallelToolCalls, expected) => {
    expect(anthropicRequest(callOf({ tools, toolChoice, parallelToolCalls }), settings).tool_choice).toEqual(expected);
  });
  it('sends no tool choice without tools, and none when the request names none', () => {
    expect(anthropicRequest(callOf({ toolChoice: 'required' }), settings)).not.toHaveProperty('tool_choice');
    expect(anthropicRequest(callOf({ tools }), settings)).not.toHaveProperty('tool_choice');
  });
  it('maps ids deterministically: valid ids as they are, others to distinct valid ids', () => {
    expect(anthropicToolId('call_AbC-123')).toBe('call_AbC-123');
    expect(anthropicToolId('toolu_01D7FLrfh4GYq7yT1ULFeyMV')).toBe('toolu_01D7FLrfh4GYq7yT1ULFeyMV');
    expect(anthropicToolId('a.b')).toBe(anthropicToolId('a.b'));
    expect(anthropicToolId('a.b')).not.toBe(anthropicToolId('a:b'));
    expect(anthropicToolId('a.b')).not.toBe(anthropicToolId('a_b'));
    for (const id of ['a.b', 'x y', 'é', '']) expect(anthropicToolId(id)).toMatch(/^[a-zA-Z0-9_-]+$/);
  });
  it('pairs a deprecated function_call with its function message by name', () => {
    const body = anthropicRequest(
      callOf({
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{"a":1}' } },
          { role: 'function', name: 'f', content: 'r' },
        ],
      }),
      settings,
    );
    expect(body.messages[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'function_f', name: 'f', input: { a: 1 } }] });
    expect(body.messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'function_f', content: 'r' }] });
  });
  it('refuses what the Messages API cannot take with a 400 the caller owns (audio, a file by id, an unknown image type)', () => {
    const refused = [
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
      { type: 'file', file: { file_id: 'file-1' } },
      { type: 'image_url', image_url: { url: 'data:image/bmp;base64,AAAA' } },
    ];
    for (const part of refused) {
      let err: unknown;
      try {
        anthropicRequest(callOf({ messages: [{ role: 'user', content: [part] }] }), settings);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ status: 400, code: 'unsupported_content' });
    }
    // a PDF's data is a document
    const pdf = anthropicRequest(callOf({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } }] }] }), settings);
    expect(pdf.messages[0].content).toEqual([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }]);
  });
});
