import { ProviderError } from '../../../lib/core/provider/chat-provider';
import { InvalidAnswerError } from '../../../lib/core/validation/invalid-answer';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { callOf, providerFor, waitFor } from './gemini-helpers';

const ask = (content = 'hello') => callOf({ messages: [{ role: 'user', content }] });

describe('geminiProvider: answers', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  it('text, finish reason stop, usage and the model version', async () => {
    fake.setBehavior('gemini-x', { text: 'Bonjour tout le monde' });
    const a = await providerFor(fake).complete(ask());
    expect(a).toEqual({ text: 'Bonjour tout le monde', finishReason: 'stop', providerModel: 'gemini-x', usage: { promptTokens: 5, completionTokens: 6, totalTokens: 11 } });
    fake.setBehavior('gemini-x', { text: 'no counts', omitUsage: true });
    expect((await providerFor(fake).complete(ask())).usage).toBeUndefined();
  });

  it('thought parts are left out of the text and their tokens counted as completion', async () => {
    fake.setBehavior('gemini-x', { text: 'the answer' });
    const a = await providerFor(fake).complete({ ...ask(), providerOptions: { gemini: { thinkingConfig: { includeThoughts: true } } } });
    expect(a.text).toBe('the answer');
    expect(a.usage).toEqual({ promptTokens: 5, completionTokens: 3 + 7, totalTokens: 15 });
  });

  it('function calls as tool calls: an id Gemini gave is kept, the others get ids unique to the answer', async () => {
    fake.setBehavior('gemini-x', {
      toolCalls: [
        { name: 'weather', arguments: { city: 'Paris' } },
        { name: 'weather', arguments: { city: 'Rome' }, id: 'gem-given' },
        { name: 'now', arguments: {} },
      ],
    });
    const provider = providerFor(fake);
    const a = await provider.complete(ask());
    expect(a.finishReason).toBe('tool_calls');
    expect(a.text).toBe('');
    const calls = a.toolCalls ?? [];
    expect(calls.map((c) => c.function)).toEqual([
      { name: 'weather', arguments: '{"city":"Paris"}' },
      { name: 'weather', arguments: '{"city":"Rome"}' },
      { name: 'now', arguments: '{}' },
    ]);
    expect(calls[1].id).toBe('gem-given');
    expect(calls[0].id).toMatch(/^call_[A-Za-z0-9_-]+_1$/);
    expect(calls[2].id).toMatch(/^call_[A-Za-z0-9_-]+_3$/);
    // another answer's generated ids differ: a conversation may hold both
    const b = await provider.complete(ask());
    expect(b.toolCalls?.[0].id).not.toBe(calls[0].id);
    // and the conversation goes on with them (each result finds its function's name)
    fake.setBehavior('gemini-x', { text: 'done' });
    const next = await provider.complete(
      callOf({ messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: null, tool_calls: calls }, ...calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: '{"ok":true}' }))] }),
    );
    expect(next.text).toBe('done');
    const contents = fake.requests('gemini-x').at(-1)?.body.contents as { parts: { functionResponse?: { id: string; name: string }; thoughtSignature?: string }[] }[];
    expect(contents[2].parts.map((p) => p.functionResponse && [p.functionResponse.id, p.functionResponse.name])).toEqual(calls.map((c) => [c.id, c.function.name]));
    // the thought signature Gemini gave the first call goes back with it; the others get the placeholder
    const firstAnswerId = Buffer.from(contents[1].parts[0].thoughtSignature ?? '', 'base64').toString();
    expect(firstAnswerId).toMatch(/^fake-signature-\d+$/);
    expect(contents[1].parts.slice(1).map((p) => p.thoughtSignature)).toEqual(['skip_thought_signature_validator', 'skip_thought_signature_validator']);
    // another provider instance (another process) does not know it: the placeholder
    fake.resetRequests();
    await providerFor(fake).complete(callOf({ messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: null, tool_calls: calls.slice(0, 1) }, { role: 'tool', tool_call_id: calls[0].id, content: '1' }] }));
    const again = fake.requests('gemini-x')[0].body.contents as { parts: { thoughtSignature?: string }[] }[];
    expect(again[1].parts[0].thoughtSignature).toBe('skip_thought_signature_validator');
  });

  it.each([
    ['truncated', { mode: 'truncated' as const, text: 'one two three four' }, { text: 'one two t', finishReason: 'length' }],
    ['blocked (finish reason SAFETY)', { mode: 'blocked' as const }, { text: '', finishReason: 'content_filter' }],
    ['blocked (the prompt itself: promptFeedback.blockReason, no candidate)', { mode: 'blocked' as const, refusal: 'Prompt blocked' }, { text: '', finishReason: 'content_filter' }],
  ])('%s', async (_what, behavior, expected) => {
    fake.setBehavior('gemini-x', behavior);
    const a = await providerFor(fake).complete(ask());
    expect(a).toMatchObject(expected);
    expect(a.usage?.promptTokens).toBeGreaterThan(0);
  });

  it('no candidate without a block reason, or a body that is not JSON, is an unusable answer', async () => {
    fake.setBehavior('gemini-x', { mode: 'empty' });
    await expect(providerFor(fake).complete(ask())).rejects.toBeInstanceOf(InvalidAnswerError);
    fake.setBehavior('gemini-x', { mode: 'malformed' });
    await expect(providerFor(fake).complete(ask())).rejects.toMatchObject({ name: 'SyntaxError' });
  });
});

describe('geminiProvider: errors (one request each: the SDK does not retry)', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  const failure = async (): Promise<unknown> => providerFor(fake).complete(ask()).catch((e: unknown) => e);

  it('429 RESOURCE_EXHAUSTED: retryAfterMs from the RetryInfo detail', async () => {
    fake.setBehavior('gemini-x', { mode: 'rate_limit', retryAfterS: 1.5 });
    const err = await failure();
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 1500, code: 'RESOURCE_EXHAUSTED' });
    fake.setBehavior('gemini-x', { mode: 'rate_limit' });
    const bare = (await failure()) as ProviderError;
    expect(bare.status).toBe(429);
    expect(bare.retryAfterMs).toBeUndefined();
    expect(fake.stats('gemini-x').requests).toBe(2);
  });

  it.each([
    [503, 'UNAVAILABLE'],
    [500, 'INTERNAL'],
    [401, 'UNAUTHENTICATED'],
    [403, 'PERMISSION_DENIED'],
  ])('%i keeps its status (%s)', async (status, code) => {
    fake.setBehavior('gemini-x', { mode: 'error', status });
    expect(await failure()).toMatchObject({ status, code, message: expect.stringContaining(`Gemini API error ${status} ${code}`) });
    expect(fake.stats('gemini-x').requests).toBe(1);
  });

  it('400 saying the input token count exceeds the maximum: context_length_exceeded', async () => {
    fake.setBehavior('gemini-x', { mode: 'context_length' });
    expect(await failure()).toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });

  it('a connection refused or reset is an error without a status, passed on as the platform threw it', async () => {
    fake.setBehavior('gemini-x', { mode: 'reset' });
    const err = (await failure()) as { name?: unknown; status?: unknown; message: string };
    expect(err.name).toBe('TypeError'); // Node's fetch's, made in Node's realm (not the test's)
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/fetch failed/);
    const closed = await startFakeLlm();
    const port = closed.port;
    await closed.close();
    const refused = (await providerFor({ port } as FakeLlm)
      .complete(ask())
      .catch((e: unknown) => e)) as { status?: unknown; cause?: { code?: unknown } };
    expect(refused.status).toBeUndefined();
    expect(refused.cause?.code).toBe('ECONNREFUSED');
  });

  it('the call signal aborts a hanging request: the provider rejects with an AbortError and the fake sees the request closed', async () => {
    fake.setBehavior('gemini-x', { mode: 'hang' });
    const call = ask();
    const started = Date.now();
    const pending = providerFor(fake).complete(call).catch((e: unknown) => e);
    await waitFor(() => fake.stats('gemini-x').pending === 1);
    call.abort();
    const err = (await pending) as { name?: unknown };
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1_500);
    await waitFor(() => fake.stats('gemini-x').aborted === 1);
  });
});
