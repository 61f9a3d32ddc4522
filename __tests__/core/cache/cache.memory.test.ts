/**
 * The response cache through the public engine, with in-memory providers on jest's fake clock: exact hits,
 * single-flight of identical requests, time to live (the answer's and a fallback answer's), the answers that are
 * never cached, and tenant scopes.
 *
 * The whole file runs on one fake clock installed before the library is loaded: lru-cache reads the global
 * `performance` once, when it is first required, and measures its TTLs with that object. Loaded before the fake
 * clock, its entries would age in real time whatever the fake clock says.
 */
import fc from 'fast-check';
import type * as Lib from '../../../lib';
import type * as Testing from '../../../lib/testing';
import type { CompletionRequest, LlmEventMap } from '../../../lib/types';
import { drive, outcome, useFakeClock } from '../../helpers/fake-clock';

useFakeClock();

let lib: typeof Lib;
let testing: typeof Testing;
let engine: Lib.LlmEngine | null = null;

beforeAll(async () => {
  lib = await import('../../../lib');
  testing = await import('../../../lib/testing');
});
afterEach(async () => {
  if (engine) await drive(engine.close());
  engine = null;
});
afterAll(() => jest.useRealTimers());

function start(options: Lib.LlmResilienceOptions): Lib.LlmEngine {
  engine = lib.createEngine({ tracing: false, ...options });
  return engine;
}
const ask = (content = 'hello', extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content }], ...extra });

describe('exact hits', () => {
  it('an identical request is served from the cache: no provider call, cached: true, the same answer', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'the answer', latencyMs: 80 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    const hits: LlmEventMap['cache:hit'][] = [];
    e.on('cache:hit', (h) => hits.push(h));
    const first = await drive(e.complete(ask()));
    expect(first).toMatchObject({ cached: false, text: 'the answer' });
    const t0 = Date.now();
    const second = await drive(e.complete(ask()));
    expect(Date.now() - t0).toBe(0);
    expect(second).toMatchObject({ cached: true, text: 'the answer', model: 'a', fallback: false, coalesced: false });
    expect(second.attempts).toEqual([]);
    expect(a.calls).toHaveLength(1);
    expect(hits).toHaveLength(1);
    expect(e.status().cache).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  it.each([
    ['a different message', ask('other')],
    ['temperature 0 (omitted is not 0)', ask('hello', { temperature: 0 })],
    ['a maxTokens', ask('hello', { maxTokens: 100 })],
    ['a stop sequence', ask('hello', { stop: ['\n'] })],
    ['a seed', ask('hello', { seed: 1 })],
    ['a topP', ask('hello', { topP: 0.5 })],
    ['another chain', ask('hello', { models: ['b'] })],
  ])('%s is another entry: the provider is asked', async (_label, other) => {
    const a = testing.memoryProvider();
    const b = testing.memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }] });
    await drive(e.complete(ask()));
    const r = await drive(e.complete(other));
    expect(r.cached).toBe(false);
    expect(a.calls.length + b.calls.length).toBe(2);
  });

  it('cache: false on a request neither reads nor writes the cache', async () => {
    const a = testing.memoryProvider();
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(e.complete(ask()));
    expect((await drive(e.complete(ask('hello', { cache: false })))).cached).toBe(false);
    expect(a.calls).toHaveLength(2);
    await drive(e.complete(ask('fresh', { cache: false })));
    expect((await drive(e.complete(ask('fresh')))).cached).toBe(false);
    expect(a.calls).toHaveLength(4);
  });

  it('each caller gets its own copy: changing a result does not change the next hit', async () => {
    const e = start({ models: [{ name: 'a', model: 'a', provider: testing.memoryProvider({ fallback: { text: 'x', usage: { promptTokens: 1, completionTokens: 2 } } }) }] });
    const first = await drive(e.complete(ask()));
    first.usage.promptTokens = 999;
    const hit = await drive(e.complete(ask()));
    hit.usage.completionTokens = 999;
    expect((await drive(e.complete(ask()))).usage).toMatchObject({ promptTokens: 1, completionTokens: 2 });
  });
});

describe('single-flight', () => {
  it('identical concurrent requests make one provider call; the others join it (coalesced)', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'shared', latencyMs: 100 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    const all = [e.complete(ask()), e.complete(ask()), e.complete(ask())];
    await jest.advanceTimersByTimeAsync(50);
    expect(e.status().cache?.inFlight).toBe(1);
    expect(a.calls).toHaveLength(1);
    const results = await drive(Promise.all(all));
    expect(results.map((r) => r.text)).toEqual(['shared', 'shared', 'shared']);
    expect(results.map((r) => r.coalesced).sort()).toEqual([false, true, true]);
    expect(a.calls).toHaveLength(1);
    expect(e.status().cache?.inFlight).toBe(0);
  });

  it('concurrent requests that differ are not joined', async () => {
    const a = testing.memoryProvider({ fallback: { latencyMs: 100 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(Promise.all([e.complete(ask('one')), e.complete(ask('two')), e.complete(ask('one', { temperature: 0 }))]));
    expect(a.calls).toHaveLength(3);
  });

  it('a caller that leaves does not cancel the call the others wait for', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'still here', latencyMs: 200 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    const ac = new AbortController();
    const leaving = outcome(e.complete(ask(), { signal: ac.signal }));
    const staying = e.complete(ask());
    await jest.advanceTimersByTimeAsync(50);
    ac.abort();
    const r = await drive(staying);
    expect(r.text).toBe('still here');
    expect((await leaving).ok).toBe(false);
    expect(a.calls).toHaveLength(1);
    expect(a.calls[0].aborted).toBe(false);
  });

  it('when every caller has left, the shared call is aborted', async () => {
    const a = testing.memoryProvider({ fallback: { kind: 'hang' } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a, timeoutMs: 60_000 }] });
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const one = outcome(e.complete(ask(), { signal: ac1.signal }));
    const two = outcome(e.complete(ask(), { signal: ac2.signal }));
    await jest.advanceTimersByTimeAsync(10);
    ac1.abort();
    await jest.advanceTimersByTimeAsync(500);
    expect(a.calls[0].aborted).toBe(false);
    ac2.abort();
    await drive(Promise.all([one, two]));
    await jest.advanceTimersByTimeAsync(500);
    expect(a.calls).toHaveLength(1);
    expect(a.calls[0].aborted).toBe(true);
  });
});

describe('time to live', () => {
  it('an answer is served until ttlMs has passed, then asked anew', async () => {
    const a = testing.memoryProvider({ steps: [{ text: 'old' }], fallback: { text: 'new' } });
    const e = start({ cache: { ttlMs: 1_000 }, models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(e.complete(ask()));
    await jest.advanceTimersByTimeAsync(990);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: true, text: 'old' });
    await jest.advanceTimersByTimeAsync(20);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: false, text: 'new' });
    expect(a.calls).toHaveLength(2);
  });

  it('an answer from a fallback model lives fallbackTtlMs only, so the primary is asked again soon', async () => {
    const a = testing.memoryProvider({ steps: [{ kind: 'fail', status: 500 }], fallback: { text: 'primary is back' } });
    const b = testing.memoryProvider({ fallback: { text: 'from the fallback' } });
    // the first request falls back: no same-model retry of the 500
    const e = start({ cache: { ttlMs: 60_000, fallbackTtlMs: 500 }, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }], retry: false });
    expect(await drive(e.complete(ask()))).toMatchObject({ model: 'b', fallback: true });
    await jest.advanceTimersByTimeAsync(490);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: true, model: 'b' });
    await jest.advanceTimersByTimeAsync(20);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: false, model: 'a', text: 'primary is back' });
    // the primary's answer has the full ttl
    await jest.advanceTimersByTimeAsync(30_000);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: true, model: 'a' });
  });

  it('fallbackTtlMs: 0 never caches a fallback answer', async () => {
    const a = testing.memoryProvider({ fallback: { kind: 'fail', status: 500 } });
    const b = testing.memoryProvider();
    const e = start({ cache: { fallbackTtlMs: 0 }, models: [{ name: 'a', model: 'a', provider: a }, { name: 'b', model: 'b', provider: b }], breaker: { volumeThreshold: 100 } });
    await drive(e.complete(ask()));
    expect((await drive(e.complete(ask()))).cached).toBe(false);
    expect(b.calls).toHaveLength(2);
  });
});

describe('answers that are never cached', () => {
  it('a cut at the request\'s own maxTokens (finishReason length) is returned but not cached', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'cut', finishReason: 'length' } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    expect(await drive(e.complete(ask('x', { maxTokens: 3 })))).toMatchObject({ finishReason: 'length', cached: false });
    expect(await drive(e.complete(ask('x', { maxTokens: 3 })))).toMatchObject({ finishReason: 'length', cached: false });
    expect(a.calls).toHaveLength(2);
    expect(e.status().cache?.size).toBe(0);
  });

  it('a truncated answer accepted through acceptTruncated is not cached either', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'cut', finishReason: 'length' } });
    const e = start({ acceptTruncated: true, models: [{ name: 'a', model: 'a', provider: a }] });
    await drive(e.complete(ask()));
    expect((await drive(e.complete(ask()))).cached).toBe(false);
    expect(a.calls).toHaveLength(2);
  });

  it.each([
    ['an empty answer', { text: '' }, {}],
    ['a whitespace-only answer', { text: ' \n\t ' }, {}],
    ['a content-filtered answer (refusal-like)', { text: 'I cannot help with that.', finishReason: 'content_filter' }, {}],
    ['JSON that does not match the schema', { text: '{"n":"no"}' }, { schema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] } }],
    ['text that is not JSON, for a schema', { text: 'sure! here it is' }, { schema: { type: 'object' } }],
    ['an answer the validate hook refuses', { text: 'refused' }, { validate: (r: { text: string }) => r.text !== 'refused' }],
  ] as const)('%s is invalid and never cached: the next identical request asks the provider', async (_label, bad, extra) => {
    const good = 'schema' in extra ? '{"n":1}' : 'a good answer';
    const a = testing.memoryProvider({ steps: [bad], fallback: { text: good } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    const first = await outcome(drive(e.complete(ask('q', extra as Partial<CompletionRequest>))));
    expect(first.ok).toBe(false);
    expect((first as { error: unknown }).error).toBeInstanceOf(lib.AllModelsFailedError);
    expect(((first as { error: Lib.AllModelsFailedError }).error.attempts[0]).outcome).toBe('invalid');
    const second = await drive(e.complete(ask('q', extra as Partial<CompletionRequest>)));
    expect(second).toMatchObject({ cached: false, text: good });
    expect(a.calls).toHaveLength(2);
    expect((await drive(e.complete(ask('q', extra as Partial<CompletionRequest>)))).cached).toBe(true);
  });

  it('a failed request is not cached', async () => {
    const a = testing.memoryProvider({ steps: [{ kind: 'fail', status: 500 }], fallback: { text: 'ok' } });
    // the first request fails: no same-model retry of the 500
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }], retry: false });
    expect((await outcome(drive(e.complete(ask())))).ok).toBe(false);
    expect(await drive(e.complete(ask()))).toMatchObject({ cached: false, text: 'ok' });
  });
});

describe('tenant scopes', () => {
  it('different scopes never share an entry, nor a call in flight; the same scope does', async () => {
    const a = testing.memoryProvider({ fallback: { text: 'answer', latencyMs: 100 } });
    const e = start({ models: [{ name: 'a', model: 'a', provider: a }] });
    const [t1, t2] = await drive(Promise.all([e.complete(ask(), { scope: 'tenant-1' }), e.complete(ask(), { scope: 'tenant-2' })]));
    expect([t1.coalesced, t2.coalesced]).toEqual([false, false]);
    expect(a.calls).toHaveLength(2);
    expect((await drive(e.complete(ask(), { scope: 'tenant-1' }))).cached).toBe(true);
    expect((await drive(e.complete(ask(), { scope: 'tenant-3' }))).cached).toBe(false);
    expect((await drive(e.complete(ask()))).cached).toBe(false);
    expect(a.calls).toHaveLength(4);
  });

  it('for any two different scopes, an answer cached in one is a miss in the other', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).filter(([x, y]) => x !== y),
        fc.string({ minLength: 1, maxLength: 20 }),
        async ([s1, s2], prompt) => {
          const a = testing.memoryProvider();
          const e = lib.createEngine({ tracing: false, models: [{ name: 'a', model: 'a', provider: a }] });
          try {
            await drive(e.complete(ask(prompt), { scope: s1 }));
            const other = await drive(e.complete(ask(prompt), { scope: s2 }));
            const same = await drive(e.complete(ask(prompt), { scope: s1 }));
            return other.cached === false && same.cached === true && a.calls.length === 2;
          } finally {
            await drive(e.close());
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
