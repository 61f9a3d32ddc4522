import Anthropic from '@anthropic-ai/sdk';
import { ProviderError } from '../../../lib/core/provider/chat-provider';
import { ConfigError } from '../../../lib/errors/config-error';
import { anthropicProvider } from '../../../lib/providers/anthropic/anthropic-provider';
import { anthropicRetryAfterMs } from '../../../lib/providers/anthropic/anthropic-errors';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf, waitFor } from './helpers';

describe('the Anthropic provider\'s answers and errors (real SDK, fake Messages API over HTTP)', () => {
  let fake: FakeLlm;
  let baseURL: string;
  let provider: ReturnType<typeof anthropicProvider>;
  beforeAll(async () => {
    fake = await startFakeLlm({
      apiKey: 'k',
      behaviors: {
        tools: { text: 'Let me look.', toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }, { name: 'now', arguments: {}, id: 'toolu_given' }] },
        cut: { mode: 'truncated', text: 'one two three four' },
        blocked: { mode: 'blocked' },
        refuses: { refusal: 'I cannot help with that.' },
        empty: { mode: 'empty' },
        overloaded: { mode: 'error', status: 529 },
        server: { mode: 'error', status: 500 },
        limited: { mode: 'rate_limit', retryAfterS: 3 },
        'limited-reset': { mode: 'rate_limit' },
        long: { mode: 'context_length' },
        reset: { mode: 'reset' },
        malformed: { mode: 'malformed' },
        hang: { mode: 'hang' },
      },
    });
    baseURL = `http://127.0.0.1:${fake.port}`;
    provider = anthropicProvider({ apiKey: 'k', baseURL });
  });
  afterAll(() => fake.close());

  const failure = (model: string, over = {}): Promise<unknown> => provider.complete(callOf({ model, ...over })).then(() => 'answered', (e: unknown) => e);

  it('answers text with its usage and the model that answered', async () => {
    const a = await provider.complete(callOf({ model: 'plain' }));
    expect(a).toEqual({ text: 'plain answer: hello there', finishReason: 'stop', providerModel: 'plain', usage: { promptTokens: expect.any(Number), completionTokens: 7, totalTokens: expect.any(Number) } });
    expect(a.usage!.totalTokens).toBe(a.usage!.promptTokens + 7);
  });

  it('reads the prompt cache\'s tokens as prompt tokens (input_tokens counts only what follows the cache)', async () => {
    // what the API answered, through the SDK itself
    const raw = await new Anthropic({ apiKey: 'k', baseURL, maxRetries: 0 }).messages.create({ model: 'plain', max_tokens: 10, messages: [{ role: 'user', content: 'hello there' }], cache_control: { type: 'ephemeral' } });
    expect(raw.usage.cache_read_input_tokens).toBeGreaterThan(0);
    const a = await provider.complete(callOf({ model: 'plain', providerOptions: { anthropic: { cache_control: { type: 'ephemeral' } } } }));
    expect(a.usage?.promptTokens).toBe(raw.usage.input_tokens + (raw.usage.cache_read_input_tokens ?? 0));
  });

  it('answers tool calls in OpenAI\'s shape (arguments as JSON text), Anthropic\'s ids kept', async () => {
    const a = await provider.complete(callOf({ model: 'tools', tools: [{ type: 'function', function: { name: 'weather' } }, { type: 'function', function: { name: 'now' } }] }));
    expect(a).toMatchObject({ text: 'Let me look.', finishReason: 'tool_calls' });
    expect(a.toolCalls).toEqual([
      { id: expect.stringMatching(/^toolu_/), type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
      { id: 'toolu_given', type: 'function', function: { name: 'now', arguments: '{}' } },
    ]);
  });

  it('maps the stop reasons: max_tokens is length, a refusal is content_filter with its explanation (or "refusal"), no content is an empty answer', async () => {
    await expect(provider.complete(callOf({ model: 'cut' }))).resolves.toMatchObject({ text: 'one two t', finishReason: 'length' });
    await expect(provider.complete(callOf({ model: 'refuses' }))).resolves.toMatchObject({ text: '', finishReason: 'content_filter', refusal: 'I cannot help with that.' });
    await expect(provider.complete(callOf({ model: 'blocked' }))).resolves.toMatchObject({ text: '', finishReason: 'content_filter', refusal: 'refusal' });
    await expect(provider.complete(callOf({ model: 'empty' }))).resolves.toMatchObject({ text: '', finishReason: 'stop' });
  });

  it('529 overloaded_error and 500 are ProviderErrors with their status (5xx: the next model is tried); one request each, no SDK retry', async () => {
    fake.resetRequests();
    expect(await failure('overloaded')).toMatchObject({ name: 'ProviderError', status: 529, code: 'overloaded_error' });
    expect(await failure('server')).toMatchObject({ name: 'ProviderError', status: 500, code: 'api_error' });
    expect(fake.stats('overloaded').requests).toBe(1);
    expect(fake.stats('server').requests).toBe(1);
  });

  it('a 429 carries the wait: retry-after, else the ratelimit reset time', async () => {
    const withRetryAfter = await failure('limited');
    expect(withRetryAfter).toBeInstanceOf(ProviderError);
    expect(withRetryAfter).toMatchObject({ status: 429, retryAfterMs: 3000, code: 'rate_limit_error' });
    fake.setBehavior('limited-reset', { mode: 'rate_limit', headers: { 'anthropic-ratelimit-requests-reset': new Date(Date.now() + 20_000).toISOString() } });
    const e = (await failure('limited-reset')) as ProviderError;
    expect(e.status).toBe(429);
    // 20 s from when the behaviour was set, less the time the call took (a wide margin for a busy machine)
    expect(e.retryAfterMs).toBeGreaterThan(15_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it('reads the reset of the limit that was hit, not of one with requests left', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const h = new Headers({
      'anthropic-ratelimit-requests-remaining': '12',
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:01Z',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-01-01T00:00:30Z',
    });
    expect(anthropicRetryAfterMs(h, now)).toBe(30_000);
    expect(anthropicRetryAfterMs(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(anthropicRetryAfterMs(new Headers({ 'anthropic-ratelimit-tokens-reset': 'soon' }), now)).toBeUndefined();
  });

  it('"prompt is too long" is a 400 with code context_length_exceeded (a larger model may take it)', async () => {
    const e = await failure('long');
    expect(e).toMatchObject({ status: 400, code: 'context_length_exceeded' });
    expect((e as Error).message).toMatch(/prompt is too long: \d+ tokens > 200000 maximum/);
  });

  it('a wrong key is a 401 as it is', async () => {
    const wrong = anthropicProvider({ apiKey: 'nope', baseURL });
    await expect(wrong.complete(callOf({ model: 'plain' }))).rejects.toMatchObject({ name: 'ProviderError', status: 401, code: 'authentication_error' });
  });

  it('a connection reset is a plain error (no status); a body that is not JSON is not a ProviderError either', async () => {
    const reset = await failure('reset');
    expect(reset).toBeInstanceOf(Error);
    expect(reset).not.toHaveProperty('status');
    expect((reset as Error).message).toMatch(/^Anthropic connection failed/);
    const malformed = await failure('malformed');
    expect(malformed).toMatchObject({ name: 'SyntaxError' }); // the SDK's JSON.parse (another realm's class under jest)
    expect(malformed).not.toHaveProperty('status');
  });

  it('the call\'s signal really aborts a hanging request: the call rejects and the server sees the connection go', async () => {
    fake.resetRequests();
    const ac = new AbortController();
    const started = Date.now();
    const pending = provider.complete(callOf({ model: 'hang', signal: ac.signal }));
    await waitFor(() => fake.stats('hang').pending === 1);
    ac.abort(new Error('timed out (test)'));
    await expect(pending).rejects.toBeDefined();
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(() => fake.stats('hang').aborted === 1);
    expect(fake.stats('hang')).toMatchObject({ requests: 1, aborted: 1, completed: 0 });
  });

  it('without a key (none given, ANTHROPIC_API_KEY unset) it refuses to be made', () => {
    const saved = process.env.ANTHROPIC_API_KEY;
    delete process.env.ANTHROPIC_API_KEY;
    try {
      expect(() => anthropicProvider({ baseURL })).toThrow(ConfigError);
      expect(() => anthropicProvider({ baseURL })).toThrow(/ANTHROPIC_API_KEY/);
      expect(() => anthropicProvider({ apiKey: 'k', defaultMaxTokens: 0 })).toThrow(/defaultMaxTokens/);
      process.env.ANTHROPIC_API_KEY = 'from-env';
      expect(() => anthropicProvider({ baseURL })).not.toThrow();
    } finally {
      if (saved === undefined) delete process.env.ANTHROPIC_API_KEY;
      else process.env.ANTHROPIC_API_KEY = saved;
    }
  });

  it('after close() it makes no more calls', async () => {
    const p = anthropicProvider({ apiKey: 'k', baseURL });
    await p.close?.();
    await expect(p.complete(callOf({ model: 'plain' }))).rejects.toThrow(/closed/);
  });
});
