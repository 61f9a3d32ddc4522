/** The host app as an OpenAI-compatible endpoint, driven by the official openai SDK as the client. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText } from 'ai';
import Koa from 'koa';
import OpenAI from 'openai';
import { ConfigError, llmResilience, type LlmResilienceMiddleware, openAICompatibleRouter } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

const TOKEN = 'app-token-0123456789';
let fake: FakeLlm;
let llm: LlmResilienceMiddleware;
let server: http.Server;
let base: string;

async function start(viaCtx: boolean, exposeHeaders = false): Promise<void> {
  // the fake provider demands its own key: proves the client's key is never forwarded
  fake = await startFakeLlm({ apiKey: 'provider-secret-key' });
  llm = llmResilience({
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'provider-secret-key', timeoutMs: 300, firstTokenTimeoutMs: 300 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'provider-secret-key', timeoutMs: 300 },
    ],
    cache: false,
    exposeHeaders,
  });
  const app = new Koa();
  app.silent = true;
  const router = openAICompatibleRouter({ apiKeys: [TOKEN], aliases: { cheap: ['fast'] }, ...(viaCtx ? {} : { llm }) });
  if (viaCtx) app.use(llm);
  app.use(router.routes()).use(router.allowedMethods());
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}
afterEach(async () => {
  await llm.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await fake.close();
});

const client = (apiKey = TOKEN) => new OpenAI({ baseURL: base, apiKey, maxRetries: 0 });
const user = (content: string) => [{ role: 'user' as const, content }];

describe.each([
  ['behind ctx.llm', true],
  ['with its own engine', false],
])('openAICompatibleRouter %s', (_label, viaCtx) => {
  beforeEach(() => start(viaCtx));

  it('round-trips a chat completion with the official SDK', async () => {
    const c = await client().chat.completions.create({ model: 'default', messages: user('hello there'), max_tokens: 50, temperature: 0 });
    expect(c.object).toBe('chat.completion');
    expect(c.choices[0].message).toMatchObject({ role: 'assistant', content: 'big answer: hello there' });
    expect(c.choices[0].finish_reason).toBe('stop');
    expect(c.model).toBe('big');
    expect(c.usage?.total_tokens).toBeGreaterThan(0);
    const sent = fake.requests('big')[0].body;
    expect(sent).toMatchObject({ model: 'big', max_tokens: 50, temperature: 0 });
  });

  it('fails over during a non-streaming call', async () => {
    fake.setBehavior('big', { mode: 'error' });
    const c = await client().chat.completions.create({ model: 'default', messages: user('x') });
    expect(c.model).toBe('small');
  });

  it('streams in the OpenAI wire format, ending with [DONE], and fails over before the first token', async () => {
    fake.setBehavior('big', { mode: 'hang' });
    const stream = await client().chat.completions.create({ model: 'default', messages: user('stream please'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: number | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage.total_tokens;
    }
    expect(text).toBe('small answer: stream please');
    expect(finish).toBe('stop');
    expect(usage).toBeGreaterThan(0);
  });

  it('a stream cut mid-answer surfaces as an error in the client, never a clean end', async () => {
    fake.setBehavior('big', { mode: 'cut', failAfterChunks: 2 });
    const stream = await client().chat.completions.create({ model: 'default', messages: user('cut me'), stream: true });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow(/interrupted/);
    expect(text.length).toBeGreaterThan(0);
  });

  it('serves chain aliases and model names, and lists them at /v1/models', async () => {
    const c = await client().chat.completions.create({ model: 'cheap', messages: user('x') });
    expect(c.model).toBe('small');
    expect(fake.stats('big').requests).toBe(0);
    const list = await client().models.list();
    expect(list.data.map((m) => m.id).sort()).toEqual(['cheap', 'default', 'fast', 'smart']);
  });

  it('answers errors in the OpenAI shape: unknown model 404, bad key 401, all failed 503', async () => {
    await expect(client().chat.completions.create({ model: 'gpt-9', messages: user('x') })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    const denied = await client('wrong-token-000000').chat.completions.create({ model: 'default', messages: user('x') }).catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(JSON.stringify(denied)).not.toContain(TOKEN);
    fake.setBehavior('*', { mode: 'error' });
    const failed = await client().chat.completions.create({ model: 'default', messages: user('x') }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ status: 503, code: 'all_models_failed', type: 'server_error' });
    expect((failed as { headers: Headers }).headers.get('retry-after')).toMatch(/^\d+$/);
    const bad = await client().chat.completions.create({ model: 'default', messages: [{ role: 'robot', content: 'x' }] as never }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, type: 'invalid_request_error' });
  });

  it('names a bad field by its wire name, and tells a body that is not an object from one that is not JSON', async () => {
    const post = async (body: string) => {
      const res = await fetch(`${base}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
      return { status: res.status, error: ((await res.json()) as { error: Record<string, unknown> }).error };
    };
    const ask = (extra: object) => JSON.stringify({ model: 'default', messages: user('x'), ...extra });
    expect(await post(ask({ max_tokens: -1 }))).toMatchObject({ status: 400, error: { param: 'max_tokens', message: expect.stringContaining("'max_tokens': must be >= 1") } });
    expect(await post(ask({ max_completion_tokens: 0 }))).toMatchObject({ status: 400, error: { param: 'max_completion_tokens' } });
    expect(await post(ask({ top_p: 7 }))).toMatchObject({ status: 400, error: { param: 'top_p' } });
    const role = await post(JSON.stringify({ model: 'default', messages: [{ role: 'robot', content: 'x' }] }));
    expect(role).toMatchObject({ status: 400, error: { param: 'messages.[0].role', code: 'invalid_request' } });
    expect(role.error.message).not.toContain('/messages');
    // `stream: "yes"` is not taken for a non-streaming call
    expect(await post(ask({ stream: 'yes' }))).toMatchObject({ status: 400, error: { param: 'stream' } });
    expect(await post(ask({ stream: true, stream_options: 'usage' }))).toMatchObject({ status: 400, error: { param: 'stream_options' } });
    expect(await post('[1, 2]')).toMatchObject({ status: 400, error: { message: 'Request body must be a JSON object.' } });
    expect(await post('{"model":')).toMatchObject({ status: 400, error: { message: 'Request body is not valid JSON.' } });
    // none of these reached the provider
    expect(fake.stats('big').requests).toBe(0);
    // the parameters the library does not map pass through unchanged, defaults included (clients send them)
    const r = await client().chat.completions.create({ model: 'default', messages: user('defaults'), frequency_penalty: 0.5, presence_penalty: 0, logit_bias: {}, logprobs: false, user: 'u-1' });
    expect(fake.requests('big').at(-1)!.body).toMatchObject({ frequency_penalty: 0.5, presence_penalty: 0, logit_bias: {}, logprobs: false, user: 'u-1' });
    expect(r.choices[0].message.content).toBe('big answer: defaults');
  });

  it('never forwards the client\'s key upstream (the provider only accepts its own)', async () => {
    await client().chat.completions.create({ model: 'default', messages: user('x') });
    expect(fake.stats('big')).toMatchObject({ requests: 1, completed: 1 });
  });
});

describe.each([
  ['behind ctx.llm', true],
  ['with its own engine', false],
])('openAICompatibleRouter %s, and the middleware\'s exposeHeaders', (_label, viaCtx) => {
  const llmHeaders = (h: Headers) => ['x-llm-model', 'x-llm-fallback', 'x-llm-cache', 'x-llm-attempts'].map((k) => h.get(k));

  it('on: a completion and a stream both say which model answered, after a fallback', async () => {
    await start(viaCtx, true);
    fake.setBehavior('big', { mode: 'error' });
    const done = await client().chat.completions.create({ model: 'default', messages: user('x') }).withResponse();
    expect(done.data.model).toBe('small');
    // three attempts each: smart, its one retry of the 500, then fast
    expect(llmHeaders(done.response.headers)).toEqual(['fast', 'true', 'miss', '3']);
    const { data: stream, response } = await client().chat.completions.create({ model: 'default', messages: user('stream'), stream: true }).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('small answer: stream');
    expect(llmHeaders(response.headers)).toEqual(['fast', 'true', 'miss', '3']);
    expect(fake.stats('big').requests).toBe(4);
  });

  it('off (the default): no x-llm-* header, streamed or not', async () => {
    await start(viaCtx);
    const done = await client().chat.completions.create({ model: 'default', messages: user('x') }).withResponse();
    const streamed = await client().chat.completions.create({ model: 'default', messages: user('y'), stream: true }).withResponse();
    for await (const _chunk of streamed.data) {
      // drain
    }
    expect(llmHeaders(done.response.headers)).toEqual([null, null, null, null]);
    expect(llmHeaders(streamed.response.headers)).toEqual([null, null, null, null]);
  });
});

describe('openAICompatibleRouter with the clients users pick instead of the openai SDK', () => {
  beforeEach(() => start(true));

  it('LangChain ChatOpenAI: invoke and stream, failing over, with its parameters passed on', async () => {
    fake.setBehavior('big', { mode: 'error' });
    const lc = new ChatOpenAI({ model: 'default', apiKey: TOKEN, configuration: { baseURL: base }, maxRetries: 0, temperature: 0.3, maxTokens: 40 });
    const r = await lc.invoke([['system', 'be brief'], ['human', 'hello']]);
    expect(r.content).toBe('small answer: hello');
    expect(r.usage_metadata?.total_tokens).toBeGreaterThan(0);
    expect(fake.requests('small')[0].body).toMatchObject({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }], temperature: 0.3, max_tokens: 40 });
    let text = '';
    for await (const chunk of await lc.stream('streamed')) text += String(chunk.content);
    expect(text).toBe('small answer: streamed');
    expect(fake.stats('big').requests).toBe(4); // per request, the 500 and its one retry
  });

  it('AI SDK (.chat): generateText and streamText, failing over, with usage and finish reason', async () => {
    fake.setBehavior('big', { mode: 'error' });
    const model = createOpenAI({ baseURL: base, apiKey: TOKEN }).chat('default');
    const r = await generateText({ model, prompt: 'hello', maxRetries: 0 });
    expect(r).toMatchObject({ text: 'small answer: hello', finishReason: 'stop' });
    expect(r.usage.totalTokens).toBeGreaterThan(0);
    const s = streamText({ model, prompt: 'streamed', maxRetries: 0 });
    let text = '';
    for await (const delta of s.textStream) text += delta;
    expect(text).toBe('small answer: streamed');
    expect(await s.finishReason).toBe('stop');
    expect((await s.usage).totalTokens).toBeGreaterThan(0);
    expect(fake.stats('big').requests).toBe(4); // per request, the 500 and its one retry
  });
});

describe('openAICompatibleRouter options', () => {
  it('require api keys and known alias targets', () => {
    expect(() => openAICompatibleRouter({ apiKeys: [] })).toThrow(ConfigError);
    expect(() => openAICompatibleRouter({ apiKeys: ['short'] })).toThrow(/\/apiKeys\/0/);
  });
});
