import { ProviderError, type ProviderMessage } from '../../../lib/core/provider/chat-provider';
import { geminiProvider } from '../../../lib/providers/gemini/gemini-provider';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf, providerFor } from './gemini-helpers';

describe('geminiProvider: what the Gemini API receives (the body the fake recorded)', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  const sent = (): Record<string, unknown> => {
    const rs = fake.requests('gemini-x');
    expect(rs).toHaveLength(1);
    return rs[0].body;
  };

  it('system and developer messages become systemInstruction; roles map to user/model, consecutive ones merged', async () => {
    const messages: ProviderMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'user', content: 'one' },
      { role: 'user', content: [{ type: 'text', text: 'two' }] },
      { role: 'assistant', content: 'three' },
      { role: 'assistant', content: [{ type: 'text', text: 'four' }] },
      { role: 'user', content: 'five' },
    ];
    const answer = await providerFor(fake).complete(callOf({ messages }));
    expect(answer.text).toBe('gemini-x answer: five'); // the fake read the last user turn
    expect(sent()).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'one' }, { text: 'two' }] },
        { role: 'model', parts: [{ text: 'three' }, { text: 'four' }] },
        { role: 'user', parts: [{ text: 'five' }] },
      ],
      generationConfig: {},
    });
  });

  it('images: a data: URL as inlineData, an http(s) URL as fileData with the media type of its extension', async () => {
    const messages: ProviderMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.JPG?size=large' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
        ],
      },
    ];
    await providerFor(fake).complete(callOf({ messages }));
    expect((sent().contents as unknown[])[0]).toEqual({
      role: 'user',
      parts: [
        { text: 'what is this?' },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
        { fileData: { fileUri: 'https://example.com/cat.JPG?size=large', mimeType: 'image/jpeg' } },
        { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      ],
    });
  });

  it.each([
    ['an image URL whose type its extension does not tell', { type: 'image_url', image_url: { url: 'https://example.com/picture' } }, /cannot be told from its extension/],
    ['a file given by id', { type: 'file', file: { file_id: 'file-abc' } }, /file given by id/],
    ['a part Gemini does not take', { type: 'video_url', video_url: { url: 'https://x/v.mp4' } }, /"video_url" part/],
  ])('refuses %s with a 400 before any request', async (_what, part, message) => {
    const err = await providerFor(fake)
      .complete(callOf({ messages: [{ role: 'user', content: [part] }] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ status: 400, code: 'unsupported_content', message: expect.stringMatching(message) });
    expect(fake.stats().requests).toBe(0);
  });

  it('tool calls and results: functionCall parts (args parsed, ids kept), functionResponse parts named after their call', async () => {
    const messages: ProviderMessage[] = [
      { role: 'user', content: 'weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_b', type: 'function', function: { name: 'forecast', arguments: '{"city":"Rome","days":2}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"temp":21}' },
      { role: 'tool', tool_call_id: 'toolu_b', content: 'sunny' },
      { role: 'user', content: 'thanks' },
    ];
    await providerFor(fake).complete(callOf({ messages }));
    expect(sent().contents).toEqual([
      { role: 'user', parts: [{ text: 'weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { id: 'call_a', name: 'weather', args: { city: 'Paris' } }, thoughtSignature: 'skip_thought_signature_validator' },
          { functionCall: { id: 'toolu_b', name: 'forecast', args: { city: 'Rome', days: 2 } }, thoughtSignature: 'skip_thought_signature_validator' },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_a', name: 'weather', response: { temp: 21 } } },
          { functionResponse: { id: 'toolu_b', name: 'forecast', response: { result: 'sunny' } } },
          { text: 'thanks' },
        ],
      },
    ]);
  });

  it('refuses a tool result for a call no assistant message made (Gemini needs its function name)', async () => {
    const err = await providerFor(fake)
      .complete(callOf({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'call_zz', content: '1' }] }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'unsupported_content', message: expect.stringContaining('call_zz') });
    expect(fake.stats().requests).toBe(0);
  });

  it('tools become functionDeclarations with parametersJsonSchema; tool_choice the function calling mode', async () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const tools = [
      { type: 'function' as const, function: { name: 'weather', description: 'Current weather', parameters } },
      { type: 'function' as const, function: { name: 'now' } },
    ];
    const provider = providerFor(fake);
    const cases: [NonNullable<Parameters<typeof callOf>[0]['toolChoice']>, unknown][] = [
      ['auto', { functionCallingConfig: { mode: 'AUTO' } }],
      ['none', { functionCallingConfig: { mode: 'NONE' } }],
      ['required', { functionCallingConfig: { mode: 'ANY' } }],
      [{ type: 'function', function: { name: 'weather' } }, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } }],
    ];
    for (const [toolChoice, toolConfig] of cases) {
      fake.resetRequests();
      await provider.complete(callOf({ messages: [{ role: 'user', content: 'hi' }], tools, toolChoice, parallelToolCalls: false }));
      const body = sent();
      expect(body.tools).toEqual([{ functionDeclarations: [{ name: 'weather', description: 'Current weather', parametersJsonSchema: parameters }, { name: 'now' }] }]);
      expect(body.toolConfig).toEqual(toolConfig);
    }
  });

  it('parameters go into generationConfig; a JSON schema as responseJsonSchema; providerOptions.gemini merged in', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
    await providerFor(fake).complete(
      callOf({
        messages: [{ role: 'user', content: 'count' }],
        temperature: 0.2,
        topP: 0.9,
        stop: 'END',
        maxTokens: 64,
        seed: 7,
        responseFormat: { type: 'json_schema', json_schema: { name: 'answer', schema } },
        providerOptions: { gemini: { topK: 20, thinkingConfig: { thinkingBudget: 0 } }, openai: { logprobs: true } },
      }),
    );
    expect(sent().generationConfig).toEqual({
      temperature: 0.2,
      topP: 0.9,
      stopSequences: ['END'],
      maxOutputTokens: 64,
      seed: 7,
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
      topK: 20,
      thinkingConfig: { thinkingBudget: 0 },
    });
    fake.resetRequests();
    await providerFor(fake).complete(callOf({ messages: [{ role: 'user', content: 'json' }], stop: ['a', 'b'], responseFormat: { type: 'json_object' } }));
    expect(sent().generationConfig).toEqual({ stopSequences: ['a', 'b'], responseMimeType: 'application/json' });
  });

  it('sends the key as x-goog-api-key (the fake refuses any other), and takes GEMINI_API_KEY, then GOOGLE_API_KEY', async () => {
    const saved = { gemini: process.env.GEMINI_API_KEY, google: process.env.GOOGLE_API_KEY };
    try {
      delete process.env.GEMINI_API_KEY;
      delete process.env.GOOGLE_API_KEY;
      expect(() => geminiProvider()).toThrow(/API key is required.*GEMINI_API_KEY/);
      process.env.GOOGLE_API_KEY = 'k';
      const baseURL = `http://127.0.0.1:${fake.port}`;
      expect((await geminiProvider({ baseURL }).complete(callOf({ messages: [{ role: 'user', content: 'a' }] }))).finishReason).toBe('stop');
      process.env.GEMINI_API_KEY = 'wrong';
      // the SDK warns whenever both are set (it reads them itself, though the key it is given wins)
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      const err = await geminiProvider({ baseURL })
        .complete(callOf({ messages: [{ role: 'user', content: 'a' }] }))
        .catch((e: unknown) => e);
      // Gemini answers an unknown key with a 400 API_KEY_INVALID: a 401 for the library (the next model is tried)
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' });
      warn.mockRestore();
    } finally {
      for (const [k, v] of [['GEMINI_API_KEY', saved.gemini], ['GOOGLE_API_KEY', saved.google]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
