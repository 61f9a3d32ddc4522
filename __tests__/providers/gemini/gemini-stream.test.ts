import { InvalidAnswerError } from '../../../lib/core/validation/invalid-answer';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf, drain, providerFor, waitFor } from './gemini-helpers';

const ask = (content = 'hello') => callOf({ messages: [{ role: 'user', content }] });

describe('geminiProvider.stream (streamGenerateContent over server-sent events)', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  it('text as it comes, then one finish part with the usage and model version', async () => {
    fake.setBehavior('gemini-x', { text: 'one two three' });
    const { parts, error } = await drain(providerFor(fake).stream(ask()));
    expect(error).toBeUndefined();
    expect(parts).toEqual([
      { type: 'text', text: 'one ' },
      { type: 'text', text: 'two ' },
      { type: 'text', text: 'three' },
      { type: 'finish', finishReason: 'stop', providerModel: 'gemini-x', usage: { promptTokens: 5, completionTokens: 4, totalTokens: 9 } },
    ]);
    expect(fake.stats('gemini-x')).toMatchObject({ requests: 1, completed: 1 });
  });

  it('function calls as whole tool-call parts with ids, and finish reason tool_calls; thoughts left out', async () => {
    fake.setBehavior('gemini-x', { text: 'Let me check.', toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }, { name: 'weather', arguments: { city: 'Rome' }, id: 'given' }] });
    const { parts, error } = await drain(providerFor(fake).stream({ ...ask(), providerOptions: { gemini: { thinkingConfig: { includeThoughts: true } } } }));
    expect(error).toBeUndefined();
    expect(parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('')).toBe('Let me check.');
    const calls = parts.flatMap((p) => (p.type === 'tool-call' ? [p.toolCall] : []));
    expect(calls).toEqual([
      { id: expect.stringMatching(/^call_[A-Za-z0-9_-]+_1$/), type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
      { id: 'given', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });
  });

  it.each([
    ['truncated', { mode: 'truncated' as const, text: 'aaaa bbbb' }, 'length'],
    ['blocked by safety', { mode: 'blocked' as const }, 'content_filter'],
    ['a blocked prompt', { mode: 'blocked' as const, refusal: 'no' }, 'content_filter'],
  ])('%s ends with finish reason %s', async (_what, behavior, finishReason) => {
    fake.setBehavior('gemini-x', behavior);
    const { parts, error } = await drain(providerFor(fake).stream(ask()));
    expect(error).toBeUndefined();
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason });
  });

  it('an error sent inside the stream throws, after the text before it (a 503 in the stream keeps its status)', async () => {
    fake.setBehavior('gemini-x', { mode: 'stream_error', text: 'a b c d e', failAfterChunks: 2, status: 503 });
    const { parts, error } = await drain(providerFor(fake).stream(ask()));
    expect(parts).toEqual([
      { type: 'text', text: 'a ' },
      { type: 'text', text: 'b ' },
    ]);
    expect(error).toMatchObject({ name: 'ProviderError', status: 503, code: 'UNAVAILABLE' });
  });

  it('a cut connection throws (never a clean end), and so does a stream that ends without a finish reason', async () => {
    fake.setBehavior('gemini-x', { mode: 'cut', text: 'a b c d e', failAfterChunks: 2 });
    const cut = await drain(providerFor(fake).stream(ask()));
    expect(cut.parts).toHaveLength(2);
    expect(cut.error).toBeDefined();
    expect((cut.error as { status?: unknown }).status).toBeUndefined();
    fake.setBehavior('gemini-x', { mode: 'no_done', text: 'a b c' });
    const noDone = await drain(providerFor(fake).stream(ask()));
    expect(noDone.parts).toHaveLength(3);
    expect(noDone.error).toBeInstanceOf(InvalidAnswerError);
    // one request each: the SDK's automatic continuation, which would reconnect, is off
    expect(fake.stats('gemini-x').requests).toBe(2);
  });

  it('errors before the stream: the status as for a whole answer', async () => {
    fake.setBehavior('gemini-x', { mode: 'rate_limit', retryAfterS: 2 });
    const { parts, error } = await drain(providerFor(fake).stream(ask()));
    expect(parts).toEqual([]);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 2000 });
  });

  it('the call signal ends a stalled stream: the fake sees the request closed', async () => {
    fake.setBehavior('gemini-x', { mode: 'stall', text: 'a b c d', failAfterChunks: 1 });
    const call = ask();
    const run = drain(providerFor(fake).stream(call));
    await waitFor(() => fake.stats('gemini-x').pending === 1);
    await new Promise((r) => setTimeout(r, 50));
    call.abort();
    const { parts, error } = await run;
    expect(parts).toEqual([{ type: 'text', text: 'a ' }]);
    expect((error as { name?: unknown }).name).toBe('AbortError');
    await waitFor(() => fake.stats('gemini-x').aborted === 1);
  });
});
