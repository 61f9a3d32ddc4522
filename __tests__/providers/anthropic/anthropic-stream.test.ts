import type { ProviderStreamPart } from '../../../lib/core/provider/chat-provider';
import { anthropicProvider } from '../../../lib/providers/anthropic/anthropic-provider';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf, collect, waitFor } from './helpers';

const texts = (parts: ProviderStreamPart[]): string => parts.map((p) => (p.type === 'text' ? p.text : '')).join('');

describe('the Anthropic provider\'s streams (real SDK, the fake\'s Messages API event stream)', () => {
  let fake: FakeLlm;
  let provider: ReturnType<typeof anthropicProvider>;
  beforeAll(async () => {
    fake = await startFakeLlm({
      apiKey: 'k',
      behaviors: {
        plain: { text: 'one two three four five', chunkDelayMs: 1 },
        tools: { text: 'Checking.', toolCalls: [{ name: 'weather', arguments: { city: 'Paris', days: [1, 2] } }, { name: 'now', arguments: {} }], chunkDelayMs: 1 },
        overloaded: { mode: 'stream_error', text: 'one two three four', failAfterChunks: 2, chunkDelayMs: 1 },
        'api-error': { mode: 'stream_error', status: 500, text: 'one two three', failAfterChunks: 1, chunkDelayMs: 1 },
        cut: { mode: 'cut', text: 'one two three four', failAfterChunks: 2, chunkDelayMs: 1 },
        'no-done': { mode: 'no_done', text: 'one two', chunkDelayMs: 1 },
        stall: { mode: 'stall', text: 'one two three four', failAfterChunks: 1, chunkDelayMs: 1 },
        blocked: { mode: 'blocked' },
        refuses: { refusal: 'Not this.' },
        truncated: { mode: 'truncated', text: 'one two three four', chunkDelayMs: 1 },
        http529: { mode: 'error', status: 529 },
      },
    });
    provider = anthropicProvider({ apiKey: 'k', baseURL: `http://127.0.0.1:${fake.port}` });
  });
  afterAll(() => fake.close());
  const run = (model: string, over = {}) => collect(provider.stream!(callOf({ model, ...over })));

  it('streams text deltas, then one finish with the stop reason, usage and model; the request asked for a stream', async () => {
    const { parts, error } = await run('plain');
    expect(error).toBeUndefined();
    expect(parts.filter((p) => p.type === 'text').length).toBe(5);
    expect(texts(parts)).toBe('one two three four five');
    expect(parts[parts.length - 1]).toEqual({ type: 'finish', finishReason: 'stop', providerModel: 'plain', usage: { promptTokens: expect.any(Number), completionTokens: 6, totalTokens: expect.any(Number) } });
    expect(fake.requests('plain')[0].body).toMatchObject({ stream: true, max_tokens: 4096 });
  });

  it('assembles each tool call from its input_json_delta pieces and gives it whole when its block stops', async () => {
    const { parts, error } = await run('tools', { tools: [{ type: 'function', function: { name: 'weather' } }, { type: 'function', function: { name: 'now' } }] });
    expect(error).toBeUndefined();
    expect(texts(parts)).toBe('Checking.');
    const calls = parts.filter((p) => p.type === 'tool-call');
    expect(calls).toEqual([
      { type: 'tool-call', toolCall: { id: expect.stringMatching(/^toolu_/), type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","days":[1,2]}' } } },
      { type: 'tool-call', toolCall: { id: expect.stringMatching(/^toolu_/), type: 'function', function: { name: 'now', arguments: '{}' } } },
    ]);
    expect(parts[parts.length - 1]).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });
  });

  it('max_tokens finishes with length; a refusal gives its refusal part, then content_filter', async () => {
    expect((await run('truncated')).parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'length' });
    const refused = await run('refuses');
    expect(refused.parts.slice(-2)).toEqual([{ type: 'refusal', refusal: 'Not this.' }, expect.objectContaining({ type: 'finish', finishReason: 'content_filter' })]);
    expect((await run('blocked')).parts.slice(-2)).toEqual([{ type: 'refusal', refusal: 'refusal' }, expect.objectContaining({ type: 'finish', finishReason: 'content_filter' })]);
  });

  it('an overloaded_error event inside the 200 stream throws a ProviderError 529 after the text before it, never a silent end', async () => {
    const { parts, error } = await run('overloaded');
    expect(texts(parts)).toBe('one two ');
    expect(parts.some((p) => p.type === 'finish')).toBe(false);
    expect(error).toMatchObject({ name: 'ProviderError', status: 529, code: 'overloaded_error' });
    const other = await run('api-error');
    expect(other.error).toMatchObject({ name: 'ProviderError', status: 500, code: 'api_error' });
  });

  it('a 529 before the stream starts is thrown by the first step', async () => {
    const { parts, error } = await run('http529');
    expect(parts).toEqual([]);
    expect(error).toMatchObject({ status: 529 });
  });

  it('a connection cut mid-stream, or a stream that ends without message_stop, throws', async () => {
    const cut = await run('cut');
    expect(texts(cut.parts)).toBe('one two ');
    expect(cut.error).toMatchObject({ message: expect.stringMatching(/^Anthropic connection failed/) });
    expect(cut.error).not.toHaveProperty('status');
    expect(cut.parts.some((p) => p.type === 'finish')).toBe(false);
    const noDone = await run('no-done');
    expect(texts(noDone.parts)).toBe('one two');
    expect(noDone.error).toMatchObject({ message: 'the Anthropic stream ended before message_stop' });
  });

  it('the signal aborts a stalled stream: it throws (not a silent end) and the server sees the connection go', async () => {
    fake.resetRequests();
    const ac = new AbortController();
    const it = provider.stream!(callOf({ model: 'stall', signal: ac.signal }))[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toMatchObject({ value: { type: 'text', text: 'one ' } });
    const reason = new Error('attempt timed out (test)');
    setTimeout(() => ac.abort(reason), 30);
    await expect(it.next()).rejects.toBe(reason);
    await waitFor(() => fake.stats('stall').aborted === 1);
    expect(fake.stats('stall')).toMatchObject({ requests: 1, aborted: 1 });
  });
});
