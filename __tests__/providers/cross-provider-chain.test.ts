/**
 * A chain that crosses provider families by name (`provider: 'anthropic' | 'gemini' | 'openai'`), the official SDKs
 * talking to the fake server's Messages API, Gemini API and Chat Completions over real HTTP: fallback across
 * families, tool calls through each, a tool conversation started on one provider continued on the others,
 * streams, the key rules at start-up and each provider's prompt-token scale against `contextWindow`.
 */
import { ConfigError, createEngine, type LlmEngine } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { ChatMessage, EngineOptions, ModelConfig, ToolDefinition } from '../../lib/types';

let fake: FakeLlm;
let engine: LlmEngine | undefined;
const root = (): string => `http://127.0.0.1:${fake.port}`;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  for (const m of ['claude-x', 'gemini-x', 'gpt-x']) fake.setBehavior(m, {});
  fake.resetRequests();
});

const claude = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'claude', provider: 'anthropic', model: 'claude-x', apiKey: 'k', baseURL: root(), timeoutMs: 2000, ...extra });
const gemini = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'flash', provider: 'gemini', model: 'gemini-x', apiKey: 'k', baseURL: root(), timeoutMs: 2000, ...extra });
const gpt = (extra: Partial<ModelConfig> = {}): ModelConfig => ({ name: 'gpt', provider: 'openai', model: 'gpt-x', apiKey: 'k', baseURL: fake.url, timeoutMs: 2000, ...extra });
const start = (models: ModelConfig[], extra: Partial<EngineOptions> = {}): LlmEngine => (engine = createEngine({ models, cache: false, ...extra }));
const ask = (content = 'hello'): ChatMessage[] => [{ role: 'user', content }];
const weather: ToolDefinition = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

describe('a chain across provider families, by name', () => {
  it('each family answers in the library\'s shape; a 529 from Claude and a 503 from Gemini fall back to the next family', async () => {
    // one request per family and attempt: no same-model retry of the 529 or the 503
    const e = start([claude(), gemini(), gpt()], { retry: false });
    fake.setBehavior('claude-x', { text: 'from claude' });
    expect(await e.complete({ messages: ask() })).toMatchObject({ model: 'claude', text: 'from claude', finishReason: 'stop', fallback: false });
    fake.setBehavior('claude-x', { mode: 'error', status: 529 });
    fake.setBehavior('gemini-x', { text: 'from gemini' });
    expect(await e.complete({ messages: ask('two') })).toMatchObject({ model: 'flash', text: 'from gemini', fallback: true });
    fake.setBehavior('gemini-x', { mode: 'error', status: 503 });
    fake.setBehavior('gpt-x', { text: 'from gpt' });
    const r = await e.complete({ messages: ask('three') });
    expect(r).toMatchObject({ model: 'gpt', text: 'from gpt' });
    expect(r.attempts.map((a) => `${a.model}:${a.outcome}`)).toEqual(['claude:error', 'flash:error', 'gpt:success']);
    expect([fake.requests('claude-x').length, fake.requests('gemini-x').length, fake.requests('gpt-x').length]).toEqual([3, 2, 1]);
  });

  it('tool calls through each family, checked the same way: a bad call from Claude fails over to Gemini\'s good one', async () => {
    const e = start([claude(), gemini()]);
    fake.setBehavior('claude-x', { toolCalls: [{ name: 'get_weather', arguments: { town: 'Paris' } }] });
    fake.setBehavior('gemini-x', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const r = await e.complete({ messages: ask('weather?'), tools: [weather] });
    expect(r).toMatchObject({ model: 'flash', finishReason: 'tool_calls' });
    expect(r.toolCalls?.[0].function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(r.attempts[0]).toMatchObject({ model: 'claude', outcome: 'invalid' });
    expect(fake.requests('claude-x')[0].body.tools).toEqual([{ name: 'get_weather', input_schema: weather.function.parameters }]);
  });

  it('a conversation with tool calls started on OpenAI continues on Anthropic and on Gemini (ids mapped, names found)', async () => {
    const history: ChatMessage[] = [
      ...ask('weather in Paris?'),
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_Abc.123:x', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_Abc.123:x', content: '{"sky":"sunny"}' },
    ];
    const e = start([claude(), gemini()]);
    fake.setBehavior('claude-x', { text: 'Sunny in Paris.' });
    expect((await e.complete({ messages: history, tools: [weather] })).text).toBe('Sunny in Paris.');
    const sent = fake.requests('claude-x')[0].body.messages as { role: string; content: { type: string; id?: string; tool_use_id?: string }[] }[];
    const use = sent[1].content.find((b) => b.type === 'tool_use');
    const result = sent[2].content.find((b) => b.type === 'tool_result');
    expect(use?.id).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(result?.tool_use_id).toBe(use?.id);
    fake.setBehavior('claude-x', { mode: 'error', status: 529 });
    fake.setBehavior('gemini-x', { text: 'Sunny, says Gemini.' });
    expect((await e.complete({ messages: history, tools: [weather] })).model).toBe('flash');
    const contents = fake.requests('gemini-x')[0].body.contents as { role: string; parts: Record<string, { name?: string }>[] }[];
    expect(contents.map((c) => c.role)).toEqual(['user', 'model', 'user']);
    expect(contents[1].parts[0].functionCall?.name).toBe('get_weather');
    expect(contents[2].parts[0].functionResponse?.name).toBe('get_weather');
  });

  it('streams from each family; a stream failing before its first token on Claude is streamed by the next', async () => {
    const e = start([claude(), gemini()]);
    fake.setBehavior('claude-x', { text: 'claude streams this' });
    expect(await e.stream({ messages: ask() }).final()).toMatchObject({ model: 'claude', text: 'claude streams this' });
    fake.setBehavior('claude-x', { mode: 'error', status: 529 });
    fake.setBehavior('gemini-x', { text: 'gemini streams this' });
    expect(await e.stream({ messages: ask('again') }).final()).toMatchObject({ model: 'flash', text: 'gemini streams this', fallback: true });
  });

  it('a model of a native family without a key is a ConfigError naming it (and every other problem); the keys come from the usual variables', () => {
    const saved = { a: process.env.ANTHROPIC_API_KEY, g: process.env.GEMINI_API_KEY, o: process.env.GOOGLE_API_KEY };
    delete process.env.ANTHROPIC_API_KEY;
    delete process.env.GEMINI_API_KEY;
    delete process.env.GOOGLE_API_KEY;
    try {
      let err: unknown;
      try {
        createEngine({ models: [claude({ apiKey: undefined }), gemini({ apiKey: undefined }), gpt({ timeoutMs: -1 })] });
      } catch (x) {
        err = x;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).problems.map((p) => p.path);
      expect(paths).toEqual(expect.arrayContaining(['/models/0/apiKey', '/models/1/apiKey', '/models/2/timeoutMs']));
      expect((err as Error).message).toMatch(/ANTHROPIC_API_KEY/);
      expect((err as Error).message).toMatch(/GEMINI_API_KEY or GOOGLE_API_KEY/);
      process.env.ANTHROPIC_API_KEY = 'from-env';
      process.env.GOOGLE_API_KEY = 'from-env';
      const ok = createEngine({ models: [claude({ apiKey: undefined }), gemini({ apiKey: undefined })] });
      void ok.close();
    } finally {
      for (const [k, v] of [['ANTHROPIC_API_KEY', saved.a], ['GEMINI_API_KEY', saved.g], ['GOOGLE_API_KEY', saved.o]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('contextWindow counts a Claude prompt at 1.3× and a Gemini prompt at 1.2× the library\'s count: a prompt that fits GPT is skipped on Claude', async () => {
    const prompt = 'word '.repeat(300); // about 300 o200k tokens
    const e = start([claude({ contextWindow: 400 }), gemini({ contextWindow: 400 }), gpt({ contextWindow: 400 })]);
    fake.setBehavior('gpt-x', { text: 'fits' });
    const r = await e.complete({ messages: ask(prompt), maxTokens: 50 });
    expect(r.model).toBe('gpt');
    expect(r.attempts.slice(0, 2).map((a) => a.outcome)).toEqual(['skipped_context', 'skipped_context']);
    expect(fake.requests('claude-x')).toHaveLength(0);
  });

  it('Claude models take a prefill by default (midStream: continue needs one after the first)', () => {
    expect(() => start([gpt(), claude()], { midStream: 'continue' })).not.toThrow();
  });
});
