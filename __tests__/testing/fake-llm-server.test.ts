import OpenAI from 'openai';
import { startFakeLlm } from '../../lib/testing';

describe('startFakeLlm', () => {
  it('serves chat completions and /v1/models to the real SDK, and counts requests', async () => {
    const fake = await startFakeLlm({ behaviors: { m1: { text: 'fixed' } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    expect(c.choices[0].message.content).toBe('fixed');
    expect(c.choices[0].finish_reason).toBe('stop');
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['m1']);
    expect(fake.stats('m1')).toEqual({ requests: 1, completed: 1, failed: 0, aborted: 0, pending: 0 });
    expect(fake.requests()[0]).toMatchObject({ model: 'm1', mode: 'ok', state: 'completed' });
    // the list also carries its counts
    expect(fake.requests('m1')).toMatchObject({ length: 1, total: 1, completed: 1, aborted: 0 });
    await fake.close();
  });

  it('keeps at most maxRecords requests (a pending one until it ends), while the counts include the forgotten ones', async () => {
    const fake = await startFakeLlm({ maxRecords: 5, behaviors: { slow: { mode: 'hang' }, err: { mode: 'error' } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const hanging = new AbortController();
    const hung = client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'first' }] }, { signal: hanging.signal }).catch(() => 'aborted');
    for (let i = 0; i < 30; i++) await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: `q${i}` }] });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'err', messages: [{ role: 'user', content: 'e' }] }).catch(() => undefined);
    const kept = fake.requests();
    expect(kept.length).toBeLessThanOrEqual(5 + 1);
    expect(kept[0]).toMatchObject({ model: 'slow', state: 'pending' }); // the oldest, but still pending
    expect(kept[kept.length - 1]).toMatchObject({ model: 'err', state: 'failed' });
    expect(fake.stats()).toEqual({ requests: 34, completed: 30, failed: 3, aborted: 0, pending: 1 });
    expect(fake.stats('m')).toEqual({ requests: 30, completed: 30, failed: 0, aborted: 0, pending: 0 });
    expect(fake.requests('m')).toMatchObject({ total: 30, completed: 30 });
    hanging.abort();
    expect(await hung).toBe('aborted');
    for (let i = 0; i < 200 && fake.stats('slow').pending > 0; i++) await new Promise((r) => setTimeout(r, 10)); // the server sees the close soon after
    expect(fake.stats('slow')).toEqual({ requests: 1, completed: 0, failed: 0, aborted: 1, pending: 0 });
    fake.resetRequests();
    expect(fake.stats()).toEqual({ requests: 0, completed: 0, failed: 0, aborted: 0, pending: 0 });
    await expect(startFakeLlm({ maxRecords: 0 })).rejects.toThrow(/maxRecords/);
    await fake.close();
  });

  it('refuses a behaviour it would not carry out as written, naming every problem (a misspelt mode would answer normally)', async () => {
    await expect(startFakeLlm({ behaviors: { m: { mode: 'timeout' as never } } })).rejects.toThrow(/fake behaviour of "m": mode must be one of ok, error, hang/);
    const fake = await startFakeLlm();
    expect(() => fake.setBehavior('m', { mode: 'rate-limit' as never, failRate: 2, latencyMs: -1, status: 42, retryAfter: 5 } as never)).toThrow(
      'fake behaviour of "m": unknown option "retryAfter"; mode must be one of ok, error, hang, reset, rate_limit, malformed, truncated, empty, context_length, stall, cut, no_done, stream_error, blocked (got "rate-limit"); latencyMs must be a number ≥ 0; failRate must be a number in [0, 1]; status must be an HTTP status (100-599)',
    );
    // the behaviour in place is kept
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'still fine' }] });
    expect(c.choices[0].finish_reason).toBe('stop');
    await fake.close();
  });

  it("with prefill: 'continue' takes a trailing assistant message as the answer's beginning and sends the rest; by default it answers anew", async () => {
    const fake = await startFakeLlm({ behaviors: { vllm: { text: 'one two three four', prefill: 'continue' }, oai: { text: 'one two three four' } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const messages = [
      { role: 'user' as const, content: 'count' },
      { role: 'assistant' as const, content: 'one two ' },
    ];
    const streamed = async (model: string): Promise<string> => {
      let text = '';
      for await (const c of await client.chat.completions.create({ model, messages, stream: true })) text += c.choices[0]?.delta?.content ?? '';
      return text;
    };
    expect(await streamed('vllm')).toBe('three four');
    expect(await streamed('oai')).toBe('one two three four');
    const c = await client.chat.completions.create({ model: 'vllm', messages });
    expect(c.choices[0].message.content).toBe('three four');
    // without a trailing assistant message, or one its text does not start with, it sends all of its text
    expect((await client.chat.completions.create({ model: 'vllm', messages: [messages[0]] })).choices[0].message.content).toBe('one two three four');
    expect((await client.chat.completions.create({ model: 'vllm', messages: [messages[0], { role: 'assistant', content: 'zero' }] })).choices[0].message.content).toBe('one two three four');
    expect(() => fake.setBehavior('x', { prefill: 'yes' as never })).toThrow(/prefill must be 'ignore' or 'continue'/);
    await fake.close();
  });

  it('refuses a delay past the timer limit, and a latency plus jitter past it still waits (no 1 ms answer, no warning)', async () => {
    await expect(startFakeLlm({ behaviors: { x: { latencyMs: 2 ** 31 } } })).rejects.toThrow(/latencyMs must be at most 2147483647 ms/);
    const fake = await startFakeLlm();
    expect(() => fake.setBehavior('x', { chunkDelayMs: 2 ** 31, jitterMs: 2 ** 32 })).toThrow(/jitterMs must be at most .*; chunkDelayMs must be at most/);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    fake.setBehavior('slow', { latencyMs: 2 ** 31 - 1, jitterMs: 2 ** 31 - 1 });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const asked = client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'hi' }] }).catch(() => 'closed');
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.stats('slow')).toMatchObject({ requests: 1, pending: 1, completed: 0 });
    await fake.close();
    await asked;
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
  });

  it('answers from the last user message, whether its content is a string or text parts', async () => {
    const fake = await startFakeLlm();
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const plain = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello there' }] });
    const parts = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello ' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text: 'there' }] }],
    });
    expect(plain.choices[0].message.content).toBe('m answer: hello there');
    expect(parts.choices[0].message.content).toBe('m answer: hello there');
    expect(parts.usage?.prompt_tokens).toBe(plain.usage?.prompt_tokens);
    await fake.close();
  });

  it('applies failRate as a fraction of requests', async () => {
    const fake = await startFakeLlm({ behaviors: { '*': { mode: 'error', failRate: 0.5 } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => client.chat.completions.create({ model: 'z', messages: [{ role: 'user', content: 'q' }] })));
    const failed = results.filter((r) => r.status === 'rejected').length;
    expect(failed).toBeGreaterThan(60);
    expect(failed).toBeLessThan(140);
    expect(fake.stats().failed).toBe(failed);
    await fake.close();
  });

  it('records an aborted request when the client gives up on a hanging one, and close() ends hangs', async () => {
    const fake = await startFakeLlm({ behaviors: { h: { mode: 'hang' } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const ac = new AbortController();
    const p = client.chat.completions.create({ model: 'h', messages: [{ role: 'user', content: 'q' }] }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 30));
    ac.abort();
    await expect(p).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 30));
    expect(fake.stats('h').aborted).toBe(1);
    const hanging = client.chat.completions.create({ model: 'h', messages: [{ role: 'user', content: 'q' }] }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    await fake.close();
    expect(await hanging).toBeInstanceOf(Error);
  });

  it('answers 429 with retry-after and 401 with a wrong key', async () => {
    const fake = await startFakeLlm({ apiKey: 'right', behaviors: { r: { mode: 'rate_limit', retryAfterS: 7 } } });
    const bad = new OpenAI({ baseURL: fake.url, apiKey: 'wrong', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: 'q' }] })).rejects.toMatchObject({ status: 401 });
    const good = new OpenAI({ baseURL: fake.url, apiKey: 'right', maxRetries: 0 });
    const err = (await good.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: 'q' }] }).catch((e: unknown) => e)) as { status: number; headers: Headers };
    expect(err.status).toBe(429);
    expect(err.headers.get('retry-after')).toBe('7');
    await fake.close();
  });
});

describe('startFakeLlm: tool calls, refusals, blocks and in-stream errors, as the real SDK reads them', () => {
  const ask = [{ role: 'user' as const, content: 'hi' }];

  it('answers with tool calls (arguments as given: an object as its JSON, a string as it is), whole and streamed in pieces', async () => {
    const fake = await startFakeLlm({ behaviors: { t: { toolCalls: [{ name: 'lookup', arguments: { q: 'x' } }, { name: 'raw', arguments: '{not json', id: 'mine' }] } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 't', messages: ask });
    expect(c.choices[0].finish_reason).toBe('tool_calls');
    expect(c.choices[0].message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
      { id: 'mine', type: 'function', function: { name: 'raw', arguments: '{not json' } },
    ]);
    const s = client.chat.completions.stream({ model: 't', messages: ask });
    const done = await s.finalChatCompletion();
    expect(done.choices[0].message.tool_calls?.map((t) => (t as { function: { arguments: string } }).function.arguments)).toEqual(['{"q":"x"}', '{not json']);
    // each call's arguments came in two pieces
    expect(fake.requests('t')).toHaveLength(2);
    await fake.close();
  });

  it('answers with a refusal, and withholds an answer for safety (content_filter)', async () => {
    const fake = await startFakeLlm({ behaviors: { r: { refusal: 'I cannot help with that.' }, b: { mode: 'blocked' } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'r', messages: ask });
    expect(r.choices[0].message).toMatchObject({ content: null, refusal: 'I cannot help with that.' });
    const b = await client.chat.completions.create({ model: 'b', messages: ask });
    expect(b.choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: null } });
    await fake.close();
  });

  it('stream_error: sends an error frame inside the 200 stream after failAfterChunks chunks (the SDK throws); unstreamed, the status', async () => {
    const fake = await startFakeLlm({ behaviors: { e: { mode: 'stream_error', failAfterChunks: 1, text: 'one two three', status: 503 } } });
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
    const got: string[] = [];
    const s = await client.chat.completions.create({ model: 'e', messages: ask, stream: true });
    await expect(
      (async () => {
        for await (const ch of s) got.push(ch.choices[0]?.delta?.content ?? '');
      })(),
    ).rejects.toThrow(/mid-stream/);
    expect(got.join('')).toBe('one ');
    await expect(client.chat.completions.create({ model: 'e', messages: ask })).rejects.toMatchObject({ status: 503 });
    expect(fake.stats('e')).toMatchObject({ requests: 2, failed: 2 });
    await fake.close();
  });

  it('refuses a malformed toolCalls or refusal behaviour, naming it', async () => {
    await expect(startFakeLlm({ behaviors: { x: { toolCalls: [{ name: 1 }] as never, refusal: 3 as never } } })).rejects.toThrow(/toolCalls must be.*|refusal must be a string/);
  });
});
