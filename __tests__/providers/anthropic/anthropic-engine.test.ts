import { createEngine, type LlmEngine } from '../../../lib/engine';
import { anthropicProvider } from '../../../lib/providers/anthropic/anthropic-provider';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { waitFor } from './helpers';

describe('an Anthropic model in the engine\'s chain (real SDKs, one fake server speaking both APIs)', () => {
  let fake: FakeLlm;
  let engine: LlmEngine;
  beforeEach(async () => {
    fake = await startFakeLlm({ apiKey: 'k', behaviors: { 'claude-x': { text: 'claude says hi', chunkDelayMs: 1 }, 'gpt-x': { text: 'gpt says hi' } } });
    engine = createEngine({
      models: [
        { name: 'claude', model: 'claude-x', provider: anthropicProvider({ apiKey: 'k', baseURL: `http://127.0.0.1:${fake.port}` }), timeoutMs: 300 },
        { name: 'gpt', model: 'gpt-x', baseURL: fake.url, apiKey: 'k' },
      ],
      cache: false,
      // one request per model: neither the SDK nor the library retries the same model
      retry: false,
    });
  });
  afterEach(async () => {
    await engine.close();
    await fake.close();
  });

  it('answers from Claude, with the usage Anthropic reported', async () => {
    const r = await engine.complete({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], maxTokens: 64 });
    expect(r).toMatchObject({ text: 'claude says hi', model: 'claude', fallback: false });
    // the fake's count (a token per four characters), not the library's tokenizer (3 tokens)
    expect(r.usage).toMatchObject({ completionTokens: 4 });
    expect(fake.requests('claude-x')[0].body).toMatchObject({ system: 'Be brief.', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    expect(fake.stats('gpt-x').requests).toBe(0);
  });

  it('a 529 overloaded_error falls back to the OpenAI model; exactly one request each', async () => {
    fake.setBehavior('claude-x', { mode: 'error', status: 529 });
    const r = await engine.complete({ prompt: 'hi' });
    expect(r).toMatchObject({ text: 'gpt says hi', model: 'gpt', fallback: true });
    expect(r.attempts[0]).toMatchObject({ model: 'claude', status: 529 });
    expect(fake.stats('claude-x').requests).toBe(1);
    expect(fake.stats('gpt-x').requests).toBe(1);
  });

  it('the attempt timeout aborts the hanging Anthropic request (the server sees it go) and the next model answers', async () => {
    fake.setBehavior('claude-x', { mode: 'hang' });
    const started = Date.now();
    const r = await engine.complete({ prompt: 'hi' });
    expect(r).toMatchObject({ model: 'gpt', fallback: true });
    expect(r.attempts[0]).toMatchObject({ model: 'claude', outcome: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await waitFor(() => fake.stats('claude-x').aborted === 1);
  });

  it('streams Claude\'s answer through engine.stream()', async () => {
    const stream = engine.stream({ prompt: 'hi' });
    let text = '';
    for await (const delta of stream) text += delta;
    expect(text).toBe('claude says hi');
    await expect(stream.result).resolves.toMatchObject({ model: 'claude', finishReason: 'stop' });
    expect(fake.requests('claude-x')[0].body).toMatchObject({ stream: true });
  });

  it('an overloaded_error inside Claude\'s stream before any text falls back to the OpenAI model', async () => {
    fake.setBehavior('claude-x', { mode: 'stream_error', failAfterChunks: 0, text: 'never sent' });
    const stream = engine.stream({ prompt: 'hi' });
    let text = '';
    for await (const delta of stream) text += delta;
    expect(text).toBe('gpt says hi');
    const result = await stream.result;
    expect(result).toMatchObject({ model: 'gpt' });
    expect(result.attempts[0]).toMatchObject({ model: 'claude', status: 529 });
  });
});
