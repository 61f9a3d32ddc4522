import { type FakeLlm, startFakeLlm } from '../../../lib/testing';

/** The fake's Gemini wire format itself, over raw HTTP (what the SDK tests rely on). */
describe('the fake server speaking the Gemini API', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'k', behaviors: { 'gemini-x': { text: 'hi there' } } });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.resetRequests());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${fake.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const contents = [{ role: 'user', parts: [{ text: 'hello' }] }];

  it('takes the key as x-goog-api-key or ?key=; no key is a 403, another key a 400 API_KEY_INVALID, neither recorded', async () => {
    const byHeader = await post('/v1beta/models/gemini-x:generateContent', { contents }, { 'x-goog-api-key': 'k' });
    expect(await byHeader.json()).toMatchObject({ candidates: [{ content: { role: 'model', parts: [{ text: 'hi there' }] }, finishReason: 'STOP' }], modelVersion: 'gemini-x' });
    expect((await post('/v1beta/models/gemini-x:generateContent?key=k', { contents })).status).toBe(200);
    const none = await post('/v1beta/models/gemini-x:generateContent', { contents });
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const wrong = await post('/v1beta/models/gemini-x:generateContent', { contents }, { 'x-goog-api-key': 'nope' });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] } });
    expect(fake.stats('gemini-x').requests).toBe(2);
  });

  it('context_length: a 400 whose message gives the token counts as Gemini words it', async () => {
    fake.setBehavior('long', { mode: 'context_length' });
    const res = await post('/v1beta/models/long:generateContent', { contents }, { 'x-goog-api-key': 'k' });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string; status: string } };
    expect(error.status).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^The input token count \(\d+\) exceeds the maximum number of tokens allowed \(1048576\)\.$/);
  });

  it('streams server-sent events; the OpenAI routes are unchanged on the same server', async () => {
    const res = await post('/v1beta/models/gemini-x:streamGenerateContent?alt=sse', { contents }, { 'x-goog-api-key': 'k' });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const frames = (await res.text()).split('\r\n\r\n').filter((f) => f !== '');
    expect(frames.every((f) => f.startsWith('data: '))).toBe(true);
    const last = JSON.parse(frames.at(-1)!.slice(6)) as { candidates: { finishReason: string }[]; usageMetadata: unknown };
    expect(last.candidates[0].finishReason).toBe('STOP');
    expect(last.usageMetadata).toBeDefined();
    const openai = await post('/v1/chat/completions', { model: 'gemini-x', messages: [{ role: 'user', content: 'x' }] }, { authorization: 'Bearer k' });
    expect(openai.status).toBe(200);
  });
});
