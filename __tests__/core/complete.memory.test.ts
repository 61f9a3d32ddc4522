/**
 * `complete()` through the public engine with in-memory providers on jest's fake clock: every field of the
 * result, the attempts, the events of one request, usage and cost, and what `close()` leaves.
 */
import fc from 'fast-check';
import { AllModelsFailedError, createEngine, type LlmEngine, type LlmEventMap, type LlmResilienceOptions } from '../../lib';
import { memoryProvider } from '../../lib/testing';
import type { CompletionRequest } from '../../lib/types';
import { drive, outcome, useFakeClock } from '../helpers/fake-clock';

let engine: LlmEngine | null = null;

beforeEach(() => useFakeClock());
afterEach(async () => {
  if (engine) await drive(engine.close());
  engine = null;
  jest.useRealTimers();
});

function start(options: LlmResilienceOptions): LlmEngine {
  engine = createEngine({ tracing: false, ...options });
  return engine;
}
const ask = (content = 'hello', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content }], ...extra });
type Seen = { name: keyof LlmEventMap; payload: LlmEventMap[keyof LlmEventMap] };
function recordAll(e: LlmEngine): Seen[] {
  const seen: Seen[] = [];
  const names: (keyof LlmEventMap)[] = ['attempt', 'fallback', 'breaker:open', 'breaker:half_open', 'breaker:close', 'cache:hit', 'cache:miss', 'cooldown', 'hedge', 'request'];
  for (const name of names) e.on(name, (payload) => seen.push({ name, payload }));
  return seen;
}

describe('the result of complete()', () => {
  it('has every field: text, model, providerModel, cached, fallback, coalesced, attempts, usage with cost, finishReason, latency, hedged', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 503, latencyMs: 40 } });
    const b = memoryProvider({ fallback: { text: 'the answer', latencyMs: 60, usage: { promptTokens: 1_000, completionTokens: 500 }, providerModel: 'b-2026-01' } });
    const e = start({
      cache: false,
      models: [
        { name: 'a', model: 'a-1', provider: a, price: { inputPerMTok: 100, outputPerMTok: 100 } },
        { name: 'b', model: 'b-1', provider: b, price: { inputPerMTok: 2, outputPerMTok: 10 } },
      ],
      // one attempt per model (no same-model retry after a random backoff): the latency is their sum
      retry: false,
    });
    const r = await drive(e.complete(ask()));
    expect(r).toMatchObject({
      text: 'the answer',
      model: 'b',
      providerModel: 'b-2026-01',
      cached: false,
      fallback: true,
      coalesced: false,
      finishReason: 'stop',
      hedged: false,
      attempts: [
        { model: 'a', outcome: 'error', status: 503, latencyMs: 40 },
        { model: 'b', outcome: 'success', latencyMs: 60 },
      ],
    });
    expect(r.usage).toMatchObject({ promptTokens: 1_000, completionTokens: 500, totalTokens: 1_500 });
    expect(r.usage.costUsd).toBeCloseTo(1_000 * 2e-6 + 500 * 10e-6, 12);
    expect(r.latencyMs).toBe(100);
    expect(r.json).toBeUndefined();
  });

  it('providerModel defaults to the configured model id; no price, no costUsd', async () => {
    const e = start({ cache: false, models: [{ name: 'mine', model: 'my-model-id', provider: memoryProvider({ fallback: { text: 'x', usage: { promptTokens: 3, completionTokens: 4 } } }) }] });
    const r = await drive(e.complete(ask()));
    expect(r).toMatchObject({ model: 'mine', providerModel: 'my-model-id', fallback: false });
    expect(r.usage).toEqual({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
  });

  it('passes the request to the provider: messages, a prompt as one user message, maxTokens capped by maxOutputTokens', async () => {
    const a = memoryProvider();
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a, maxOutputTokens: 50 }] });
    await drive(e.complete({ prompt: 'as a prompt', maxTokens: 500 }));
    await drive(e.complete(ask('small', { maxTokens: 10 })));
    await drive(e.complete(ask('none')));
    expect(a.calls.map((c) => [c.messages, c.maxTokens])).toEqual([
      [[{ role: 'user', content: 'as a prompt' }], 50],
      [[{ role: 'user', content: 'small' }], 10],
      [[{ role: 'user', content: 'none' }], 50],
    ]);
  });

  it('schema: the answer is parsed into json; an answer that does not match is invalid and the next model answers', async () => {
    const schema = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'], additionalProperties: false };
    const a = memoryProvider({ fallback: { text: '{"n":"not a number"}' } });
    const b = memoryProvider({ fallback: { text: '{"n":42}' } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    const r = await drive(e.complete(ask('json please', { schema })));
    expect(r).toMatchObject({ model: 'b', json: { n: 42 } });
    expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'invalid' });
    expect(e.status().models[0].failures).toBe(0); // the request's schema refused it: not the model's failure
  });

  it.each([
    ['an empty text', { text: '' }, 1],
    ['a whitespace-only text', { text: '  \n ' }, 1],
    ['a cut the request did not ask for (length, no maxTokens)', { text: 'cut', finishReason: 'length' }, 0],
    ['a content filter', { text: 'withheld', finishReason: 'content_filter' }, 0],
  ] as const)('%s is invalid: the next model answers, and the breaker counts it only when the provider alone is to blame', async (_label, step, failures) => {
    const a = memoryProvider({ fallback: step });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }] });
    const r = await drive(e.complete(ask()));
    expect(r.model).toBe('b');
    expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'invalid' });
    expect(e.status().models[0].failures).toBe(failures);
  });

  it('a cut at the request\'s own maxTokens is a success, returned as is with finishReason length', async () => {
    const a = memoryProvider({ fallback: { text: 'cut short', finishReason: 'length' } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: memoryProvider() }] });
    const r = await drive(e.complete(ask('x', { maxTokens: 5 })));
    expect(r).toMatchObject({ model: 'a', text: 'cut short', finishReason: 'length', fallback: false });
    expect(e.status().models[0]).toMatchObject({ failures: 0, successes: 1 });
  });

  it('validate: false makes the attempt invalid, and the hook sees the result', async () => {
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: memoryProvider({ fallback: { text: 'no' } }) }, { name: 'b', model: 'b', provider: memoryProvider({ fallback: { text: 'yes' } }) }] });
    const seen: string[] = [];
    const r = await drive(e.complete(ask('x', { validate: (res) => (seen.push(`${res.model}:${res.text}`), res.text === 'yes') })));
    expect(r.model).toBe('b');
    expect(seen).toEqual(['a:no', 'b:yes']);
  });
});

describe('the events of one request', () => {
  it('a request that falls back: attempt per model, fallback, cache:miss, then request with the summary', async () => {
    const a = memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const b = memoryProvider({ fallback: { text: 'answer b', usage: { promptTokens: 10, completionTokens: 20 } } });
    // one attempt per model: no same-model retry of the 500
    const e = start({ models: [{ name: 'a', model: 'a-1', provider: a }, { name: 'b', model: 'b-1', provider: b }], retry: false });
    const seen = recordAll(e);
    const r = await drive(e.complete(ask('secret prompt text', { task: 'summarize' })));
    expect(seen.map((s) => s.name)).toEqual(['cache:miss', 'attempt', 'fallback', 'attempt', 'request']);
    const [miss, a1, fb, a2, req] = seen.map((s) => s.payload) as [LlmEventMap['cache:miss'], LlmEventMap['attempt'], LlmEventMap['fallback'], LlmEventMap['attempt'], LlmEventMap['request']];
    const id = miss.requestId;
    expect(typeof id).toBe('string');
    expect(a1).toMatchObject({ requestId: id, index: 0, model: 'a', outcome: 'error', status: 500 });
    expect(fb).toEqual({ requestId: id, from: 'a', to: 'b', reason: 'error' });
    expect(a2).toMatchObject({ requestId: id, index: 1, model: 'b', outcome: 'success' });
    expect(req).toMatchObject({
      requestId: id,
      kind: 'complete',
      task: 'summarize',
      chain: ['a', 'b'],
      outcome: 'success',
      model: 'b',
      cached: false,
      fallback: true,
      hedged: false,
      text: 'answer b',
      finishReason: 'stop',
      usage: { promptTokens: 10, completionTokens: 20, totalTokens: 30 },
    });
    expect(req.attempts).toEqual(r.attempts);
    expect(req.promptHash).toMatch(/^[0-9a-f]+$/);
    expect(JSON.stringify(req)).not.toContain('secret prompt text');
    expect(miss.key).not.toContain('secret');
  });

  it('a cache hit: cache:hit and a request with cached: true, no attempt event', async () => {
    const e = start({ models: [{ name: 'a', model: 'a', provider: memoryProvider() }] });
    await drive(e.complete(ask()));
    const seen = recordAll(e);
    const r = await drive(e.complete(ask()));
    expect(r.cached).toBe(true);
    expect(seen.map((s) => s.name)).toEqual(['cache:hit', 'request']);
    expect(seen[1].payload).toMatchObject({ cached: true, outcome: 'success', attempts: [] });
  });

  it('a failed request: attempts, then request with outcome failed and the error\'s code', async () => {
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: memoryProvider({ fallback: { kind: 'fail', status: 500, message: 'upstream said sk-secret123' } }) }] });
    const seen = recordAll(e);
    const r = await outcome(drive(e.complete(ask())));
    expect(r.ok).toBe(false);
    // the 500, then its retry on the same model
    expect(seen.map((s) => s.name)).toEqual(['attempt', 'attempt', 'request']);
    expect(seen[1].payload).toMatchObject({ model: 'a', outcome: 'error', retry: 1 });
    expect(seen[2].payload).toMatchObject({ outcome: 'failed', model: null, error: { code: 'ALL_MODELS_FAILED' } });
    expect(JSON.stringify(seen)).not.toContain('sk-secret123');
    expect(String((r as { error: Error }).error.message)).not.toContain('sk-secret123');
  });

  it('a listener that throws breaks nothing', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: memoryProvider() }] });
      e.on('attempt', () => {
        throw new Error('listener bug');
      });
      e.on('request', async () => {
        throw new Error('async listener bug');
      });
      expect((await drive(e.complete(ask()))).model).toBe('a');
      await jest.advanceTimersByTimeAsync(0);
      expect(warn).toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('spend and status', () => {
  it('status() counts each model\'s requests, tokens and cost; the app\'s spend over the last hour', async () => {
    const a = memoryProvider({ fallback: { text: 'a', usage: { promptTokens: 1_000_000, completionTokens: 0 } } });
    const e = start({ cache: false, models: [{ name: 'a', model: 'a', provider: a, price: { inputPerMTok: 3, outputPerMTok: 15 } }] });
    await drive(e.complete(ask('one')));
    await drive(e.complete(ask('two')));
    const s = e.status();
    expect(s.models[0].spend).toMatchObject({ requests: 2, promptTokens: 2_000_000, completionTokens: 0 });
    expect(s.models[0].spend.costUsd).toBeCloseTo(6, 9);
    expect(s.spend.lastHourUsd).toBeCloseTo(6, 9);
  });

  it('for any usage and price, costUsd is prompt × input price + completion × output price (per million tokens)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2_000_000 }),
        fc.nat({ max: 2_000_000 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        async (promptTokens, completionTokens, inputPerMTok, outputPerMTok) => {
          const a = memoryProvider({ fallback: { text: 'x', usage: { promptTokens, completionTokens } } });
          const e = createEngine({ cache: false, tracing: false, models: [{ name: 'a', model: 'a', provider: a, price: { inputPerMTok, outputPerMTok } }] });
          try {
            const r = await drive(e.complete(ask()));
            const expected = (promptTokens * inputPerMTok + completionTokens * outputPerMTok) / 1e6;
            return r.usage.totalTokens === promptTokens + completionTokens && Math.abs((r.usage.costUsd ?? NaN) - expected) <= 1e-9 * Math.max(1, expected);
          } finally {
            await drive(e.close());
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('maxCostUsd skips a model whose estimated cost is over it (over_budget), with no call', async () => {
    const a = memoryProvider();
    const b = memoryProvider();
    const e = start({
      cache: false,
      models: [
        { name: 'a', model: 'a', provider: a, price: { inputPerMTok: 1_000, outputPerMTok: 1_000 } },
        { name: 'b', model: 'b', provider: b, price: { inputPerMTok: 0.01, outputPerMTok: 0.01 } },
      ],
    });
    const r = await drive(e.complete(ask('hello', { maxTokens: 1_000, maxCostUsd: 0.1 })));
    expect(r.model).toBe('b');
    expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'over_budget', latencyMs: 0 });
    expect(a.calls).toHaveLength(0);
  });

  it('after close(), a call fails at once with AllModelsFailedError and calls no provider', async () => {
    const a = memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(e.close());
    const r = await outcome(drive(e.complete(ask())));
    expect(r.ok).toBe(false);
    expect((r as { error: unknown }).error).toBeInstanceOf(AllModelsFailedError);
    expect(a.calls).toHaveLength(0);
  });
});
