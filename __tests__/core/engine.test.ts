import { AllModelsFailedError, createEngine, RequestAbortedError, RequestError } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { sleep, waitFor } from '../helpers/app';

let fake: FakeLlm;
beforeEach(async () => {
  fake = await startFakeLlm({ apiKey: 'sk-engine-secret' });
});
afterEach(() => fake.close());

const engineFor = (f: FakeLlm, extra = {}) =>
  createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: f.url, apiKey: 'sk-engine-secret', timeoutMs: 200 },
      { name: 'backup', model: 'b', baseURL: f.url, apiKey: 'sk-engine-secret', timeoutMs: 200, price: { inputPerMTok: 2, outputPerMTok: 8 } },
    ],
    cache: false,
    ...extra,
  });

describe('LlmEngine without Koa', () => {
  it('completes a prompt and reports cost from the answering model\'s price', async () => {
    fake.setBehavior('p', { mode: 'error' });
    const engine = engineFor(fake);
    const r = await engine.complete({ prompt: 'cost?' });
    expect(r.model).toBe('backup');
    expect(r.usage.costUsd).toBeCloseTo((r.usage.promptTokens * 2 + r.usage.completionTokens * 8) / 1e6, 12);
    expect(fake.requests('b')[0].body).toMatchObject({ model: 'b', messages: [{ role: 'user', content: 'cost?' }] });
    await engine.close();
  });

  it('caps maxTokens at the model\'s maxOutputTokens', async () => {
    const engine = createEngine({ models: [{ model: 'p', baseURL: fake.url, apiKey: 'sk-engine-secret', maxOutputTokens: 50 }], cache: false });
    await engine.complete({ prompt: 'x', maxTokens: 4000 });
    await engine.complete({ prompt: 'y' });
    expect(fake.requests('p').map((r) => r.body.max_tokens)).toEqual([50, 50]);
    await engine.close();
  });

  it('sends every answer-changing parameter to the provider', async () => {
    const engine = engineFor(fake);
    // (a json_object answer must be JSON: the fake's is)
    fake.setBehavior('p', { text: '{"ok":true}' });
    await engine.complete({ prompt: 'x', temperature: 0.2, topP: 0.9, stop: ['END'], seed: 3, maxTokens: 7, responseFormat: { type: 'json_object' } });
    fake.setBehavior('p', {});
    expect(fake.requests('p')[0].body).toMatchObject({ temperature: 0.2, top_p: 0.9, stop: ['END'], seed: 3, max_tokens: 7, response_format: { type: 'json_object' } });
    await engine.close();
  });

  it('rejects with AllModelsFailedError carrying every attempt, and no secret in it', async () => {
    fake.setBehavior('*', { mode: 'error', status: 502 });
    const engine = engineFor(fake);
    const err = await engine.complete({ prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllModelsFailedError);
    const e = err as AllModelsFailedError;
    expect(e).toMatchObject({ code: 'ALL_MODELS_FAILED', status: 503, expose: true });
    // a 502 is transient: each model is retried once before the chain moves on
    expect(e.attempts.map((a) => [a.model, a.outcome, a.status, a.retry])).toEqual([
      ['primary', 'error', 502, undefined],
      ['primary', 'error', 502, 1],
      ['backup', 'error', 502, undefined],
      ['backup', 'error', 502, 1],
    ]);
    expect(JSON.stringify({ ...e, message: e.message })).not.toContain('sk-engine-secret');
    await engine.close();
  });

  it('a wrong key is a 401 failure of that model, and the key never shows', async () => {
    const engine = createEngine({ models: [{ model: 'p', baseURL: fake.url, apiKey: 'sk-wrong-key-999' }], cache: false });
    const err = (await engine.complete({ prompt: 'x' }).catch((e: unknown) => e)) as AllModelsFailedError;
    expect(err.attempts[0]).toMatchObject({ outcome: 'error', status: 401 });
    expect(`${err.message} ${JSON.stringify(err.attempts)}`).not.toContain('sk-wrong-key-999');
    await engine.close();
  });

  it('the caller\'s signal cancels the upstream request and is not a failure', async () => {
    fake.setBehavior('p', { mode: 'hang' });
    const engine = engineFor(fake, { breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } });
    const controller = new AbortController();
    const pending = engine.complete({ prompt: 'x', signal: controller.signal, timeoutMs: 5000 });
    await waitFor(() => fake.stats('p').pending === 1);
    await sleep(30);
    controller.abort();
    const err = (await pending.catch((e: unknown) => e)) as RequestAbortedError;
    expect(err).toBeInstanceOf(RequestAbortedError);
    // what was tried before the caller left: the attempt it interrupted, cancelled (not a failure)
    expect(err.attempts).toEqual([{ model: 'primary', outcome: 'cancelled', latencyMs: expect.any(Number), message: 'the caller went away' }]);
    expect(err.attempts[0].latencyMs).toBeGreaterThanOrEqual(25);
    await waitFor(() => fake.stats('p').aborted === 1);
    expect(fake.stats('b').requests).toBe(0);
    expect(engine.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
    await engine.close();
  });

  it('a malformed request is a RequestError (400) with details', async () => {
    const engine = engineFor(fake);
    const err = (await engine.complete({ prompt: 'x', messages: [] } as never).catch((e: unknown) => e)) as RequestError;
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ status: 400, expose: true, code: 'REQUEST_INVALID' });
    expect(err.details.join(' ')).toMatch(/exactly one of `messages` or `prompt`/);
    expect(fake.stats().requests).toBe(0);
    await engine.close();
  });

  it.each([
    [{ messages: [{ role: 'user' }] }, "/messages/0: must have required property 'content'"],
    [{ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: null }] }, '/messages/1/content: must be string,array'],
  ])('a user, system, developer or tool message without content is a 400 before any call (%j)', async (req, detail) => {
    const engine = engineFor(fake);
    const err = (await engine.complete(req as never).catch((e: unknown) => e)) as RequestError;
    expect(err).toMatchObject({ status: 400, code: 'REQUEST_INVALID', details: [detail] });
    expect(fake.stats().requests).toBe(0);
    await engine.close();
  });

  it('an assistant message may go without content (it carried tool calls)', async () => {
    const engine = engineFor(fake);
    const r = await engine.complete({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null }, { role: 'user', content: 'again' }] });
    expect(r.text).toBeTruthy();
    expect(fake.stats().requests).toBe(1);
    await engine.close();
  });

  it('close() is idempotent', async () => {
    const engine = engineFor(fake);
    await engine.close();
    await engine.close();
  });

  it('after close(), complete() and stream() fail at once with a 503 that says so, and call no model', async () => {
    const engine = engineFor(fake);
    await engine.close();
    const err = await engine.complete({ prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllModelsFailedError);
    expect(err).toMatchObject({ status: 503, attempts: [], message: 'The LLM engine is closed: no model is called after close()' });
    const iterate = async (): Promise<void> => {
      for await (const _delta of engine.stream({ prompt: 'y' })) {
        // nothing arrives
      }
    };
    await expect(iterate()).rejects.toThrow(/engine is closed/);
    expect(fake.stats().requests).toBe(0);
  });

  it('a call in flight at close() still ends by its own timeout (close does not leave it hanging)', async () => {
    fake.setBehavior('big', { mode: 'hang' });
    const engine = createEngine({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'sk-engine-secret', timeoutMs: 150 }], cache: false });
    const pending = engine.complete({ prompt: 'x' }).catch((e: unknown) => e);
    await waitFor(() => fake.stats('big').pending === 1);
    await engine.close();
    expect(await pending).toMatchObject({ code: 'ALL_MODELS_FAILED', attempts: [{ model: 'smart', outcome: 'timeout' }] });
    await waitFor(() => fake.stats('big').aborted === 1);
  });
});

describe('requests JSON cannot carry', () => {
  const cyclicPart = () => {
    const part: Record<string, unknown> = { type: 'text', text: 'hi' };
    part.self = part;
    return part;
  };
  const deep = () => {
    let v: unknown = 'x';
    for (let i = 0; i < 10_000; i++) v = [v];
    return v;
  };

  it.each([
    ['a cyclic content part', () => ({ messages: [{ role: 'user', content: [cyclicPart()] }] }), /\/messages\/0\/content\/0\/self: .*cycle/],
    ['content nested 10 000 deep', () => ({ messages: [{ role: 'user', content: deep() }] }), /\/messages\/0\/content\/0\/.*nests more than 64 levels/],
    ['a BigInt in a message', () => ({ messages: [{ role: 'user', content: 'x', n: 1n }] }), /\/messages\/0\/n: is a BigInt/],
    ['a cyclic responseFormat', () => {
      const rf: Record<string, unknown> = { type: 'json_object' };
      rf.me = rf;
      return { prompt: 'x', responseFormat: rf };
    }, /\/responseFormat\/me: .*cycle/],
  ])('%s: a 400 RequestError before any upstream call, cache on or off, and no breaker counts it', async (_name, request, detail) => {
    for (const cache of [undefined, false]) {
      const engine = engineFor(fake, cache === undefined ? { cache: undefined } : {});
      const err = await engine.complete(request() as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestError);
      expect(err).toMatchObject({ status: 400, code: 'REQUEST_INVALID' });
      expect((err as RequestError).details.join('\n')).toMatch(detail);
      const s = engine.status();
      expect(s.models.map((m) => m.failures)).toEqual([0, 0]);
      await engine.close();
    }
    expect(fake.requests().length).toBe(0);
  });
});
