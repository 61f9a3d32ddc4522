import { createEngine } from '../../../lib/engine';
import { geminiProvider } from '../../../lib/providers/gemini/gemini-provider';
import { type FakeLlm, startFakeLlm } from '../../../lib/testing';
import { waitFor } from './gemini-helpers';

describe('a Gemini model in the engine, before an OpenAI one (one fake server speaking both)', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k' });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.resetRequests();
    fake.setBehavior('gpt-x', { text: 'from gpt' });
  });

  const engineWith = (timeoutMs = 2_000, retry = true) =>
    createEngine({
      models: [
        { name: 'flash', model: 'gemini-x', provider: geminiProvider({ apiKey: 'k', baseURL: `http://127.0.0.1:${fake.port}` }), timeoutMs },
        { name: 'gpt', model: 'gpt-x', baseURL: fake.url, apiKey: 'k', timeoutMs },
      ],
      cache: false,
      retry,
    });

  it('answers from Gemini, with its usage', async () => {
    fake.setBehavior('gemini-x', { text: 'from gemini' });
    const engine = engineWith();
    const r = await engine.complete({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] });
    expect(r).toMatchObject({ text: 'from gemini', model: 'flash', providerModel: 'gemini-x', fallback: false, finishReason: 'stop' });
    expect(r.usage).toMatchObject({ promptTokens: 6, completionTokens: 3 }); // the fake's counts (about 4 characters a token, +3), as Gemini reported them
    expect(fake.requests('gemini-x')[0].body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
    await engine.close();
  });

  it('a 503 from Gemini falls back to the OpenAI model (one Gemini request: no retry)', async () => {
    fake.setBehavior('gemini-x', { mode: 'error', status: 503 });
    // the fallback alone: neither the SDK nor the library retries the 503 on Gemini
    const engine = engineWith(2_000, false);
    const r = await engine.complete({ prompt: 'hi' });
    expect(r).toMatchObject({ text: 'from gpt', model: 'gpt', fallback: true });
    expect(r.attempts.map((a) => [a.model, a.outcome])).toEqual([
      ['flash', 'error'],
      ['gpt', 'success'],
    ]);
    expect(fake.stats('gemini-x').requests).toBe(1);
    await engine.close();
  });

  it('a safety block falls back too; a wrong Gemini key moves on as a 401, not a caller fault', async () => {
    fake.setBehavior('gemini-x', { mode: 'blocked' });
    const engine = engineWith();
    expect(await engine.complete({ prompt: 'hi' })).toMatchObject({ model: 'gpt', fallback: true });
    await engine.close();
    const wrongKey = createEngine({
      models: [
        { name: 'flash', model: 'gemini-x', provider: geminiProvider({ apiKey: 'wrong', baseURL: `http://127.0.0.1:${fake.port}` }) },
        { name: 'gpt', model: 'gpt-x', baseURL: fake.url, apiKey: 'k' },
      ],
      cache: false,
    });
    const r = await wrongKey.complete({ prompt: 'hi' });
    expect(r).toMatchObject({ model: 'gpt', fallback: true });
    expect(r.attempts[0]).toMatchObject({ model: 'flash', status: 401 });
    await wrongKey.close();
  });

  it("the attempt's timeout aborts a hanging Gemini call (the fake sees it closed) and the OpenAI model answers", async () => {
    fake.setBehavior('gemini-x', { mode: 'hang' });
    const engine = engineWith(200);
    const started = Date.now();
    const r = await engine.complete({ prompt: 'hi' });
    expect(r).toMatchObject({ model: 'gpt', fallback: true });
    expect(r.attempts[0]).toMatchObject({ model: 'flash', outcome: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(1_800);
    await waitFor(() => fake.stats('gemini-x').aborted === 1);
    await engine.close();
  });

  it('streams through engine.stream()', async () => {
    fake.setBehavior('gemini-x', { text: 'streamed from gemini' });
    const engine = engineWith();
    let text = '';
    for await (const delta of engine.stream({ prompt: 'hi' })) text += delta;
    expect(text).toBe('streamed from gemini');
    expect(fake.requests('gemini-x')).toHaveLength(1);
    await engine.close();
  });

  it('a Gemini stream that fails before its first token falls back to the OpenAI model', async () => {
    fake.setBehavior('gemini-x', { mode: 'stream_error', failAfterChunks: 0 });
    // the fallback alone: no same-model retry of the failed stream
    const engine = engineWith(2_000, false);
    let text = '';
    for await (const delta of engine.stream({ prompt: 'hi' })) text += delta;
    expect(text).toBe('from gpt');
    expect(fake.stats('gemini-x')).toMatchObject({ requests: 1, failed: 1 });
    await engine.close();
  });
});
