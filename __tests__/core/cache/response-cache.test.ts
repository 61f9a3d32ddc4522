/**
 * A cached answer belongs to nobody: every caller the cache answers (a hit, a stream's replay, a caller that
 * joined a flight, an answer read from or shared through Redis, the first caller whose answer was stored) may
 * change its result in place, and the next caller still gets the answer as it was. Over real HTTP to the fake
 * provider, and the real Redis at 127.0.0.1:6379 for the shared tier.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, CompletionResult, StreamResult } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { sleep } from '../../helpers/app';

let fake: FakeLlm;
let engines: LlmEngine[] = [];
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await fake.close();
});

function engine(extra: Partial<LlmResilienceOptions> = {}): LlmEngine {
  const e = createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000, price: { inputPerMTok: 1, outputPerMTok: 2 } },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
    ],
    ...extra,
  });
  engines.push(e);
  return e;
}

const SCHEMA = { type: 'object' };
/** An answer object with nesting at every level: objects in arrays in objects. */
const answers = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { minLength: 1, maxLength: 3 })),
  { minKeys: 1, maxKeys: 5 },
);
const ask = (): CompletionRequest => ({ messages: [{ role: 'user', content: `question ${randomUUID()}` }], temperature: 0, schema: SCHEMA });

/** What a result says about the answer (what the next caller must get as it was). */
function answerOf(r: CompletionResult | StreamResult): unknown {
  return structuredClone({ text: r.text, model: r.model, providerModel: r.providerModel, fallback: r.fallback, usage: r.usage, finishReason: r.finishReason, json: r.json });
}

/** Changes, in place, everything of a result that can be changed: every field of every object and array. */
function mutateAll(value: unknown, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] !== null && typeof value[i] === 'object') mutateAll(value[i], seen);
      else value[i] = changed(value[i]);
    }
    value.push('added');
    return;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] !== null && typeof o[k] === 'object') mutateAll(o[k], seen);
    else Object.defineProperty(o, k, { value: changed(o[k]), enumerable: true, writable: true, configurable: true });
  }
  o.added = { deep: ['added'] };
}
function changed(v: unknown): unknown {
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') return `${v}!`;
  if (typeof v === 'boolean') return !v;
  return 'changed';
}

async function streamed(e: LlmEngine, req: CompletionRequest): Promise<{ text: string; result: StreamResult }> {
  const s = e.stream(req);
  let text = '';
  for await (const piece of s) text += piece;
  return { text, result: await s.result };
}

describe('cached answers are never shared objects', () => {
  it('complete(): the first caller and every hit may change their results; the next hit is as it was', async () => {
    const e = engine();
    await fc.assert(
      fc.asyncProperty(answers, async (obj) => {
        fake.setBehavior('p', { text: JSON.stringify(obj) });
        const req = ask();
        const first = await e.complete(req);
        expect(first.cached).toBe(false);
        const expected = answerOf(first);
        mutateAll(first);
        for (let i = 0; i < 2; i++) {
          const hit = await e.complete(req);
          expect(hit.cached).toBe(true);
          expect(answerOf(hit)).toEqual(expected);
          mutateAll(hit);
        }
      }),
      { numRuns: 25 },
    );
    expect(fake.stats('p').requests).toBe(25);
  });

  it('a validate hook that changes the answer it is shown changes nothing for the next caller', async () => {
    const e = engine();
    fake.setBehavior('p', { text: JSON.stringify({ a: { b: [1, { c: 2 }] } }) });
    const req = ask();
    const expected = answerOf(await e.complete(req));
    const editing = await e.complete({
      ...req,
      validate: (r) => {
        mutateAll(r);
        return true;
      },
    });
    expect(editing.cached).toBe(true);
    expect(answerOf(await e.complete(req))).toEqual(expected);
  });

  it('a validate hook on the call that fills the cache may change what it is shown: neither its caller nor the next hit sees it', async () => {
    const e = engine();
    fake.setBehavior('p', { text: JSON.stringify({ a: { b: [1, { c: 2 }] } }) });
    const req = ask();
    const first = await e.complete({
      ...req,
      validate: (r) => {
        mutateAll(r);
        return true;
      },
    });
    expect(first.cached).toBe(false);
    expect(first.json).toEqual({ a: { b: [1, { c: 2 }] } });
    const hit = await e.complete(req);
    expect(hit.cached).toBe(true);
    expect(hit.json).toEqual({ a: { b: [1, { c: 2 }] } });
  });

  it('callers that joined one flight each get their own result (and the stored answer is none of them)', async () => {
    const e = engine();
    fake.setBehavior('p', { latencyMs: 100, text: JSON.stringify({ list: [{ x: 1 }, { y: [2, 3] }], n: 1 }) });
    const req = ask();
    const results = await Promise.all([e.complete(req), e.complete(req), e.complete(req)]);
    expect(results.map((r) => r.coalesced)).toEqual([false, true, true]);
    expect(fake.stats('p').requests).toBe(1);
    const expected = answerOf(results[0]);
    const attempts = structuredClone(results[0].attempts);
    for (const r of results) {
      expect(answerOf(r)).toEqual(expected);
      expect(r.attempts).toEqual(attempts);
      mutateAll(r);
      r.attempts.push({ model: 'x', outcome: 'error', latencyMs: 1 });
    }
    const hit = await e.complete(req);
    expect(hit.cached).toBe(true);
    expect(answerOf(hit)).toEqual(expected);
  });

  it('a stream that filled the cache, and every replay, may change its result; the next replay is as it was', async () => {
    const e = engine();
    fake.setBehavior('p', { text: JSON.stringify({ items: [{ id: 1, tags: ['a'] }], total: 1 }) });
    const req = ask();
    const first = await streamed(e, req);
    expect(first.result.cached).toBe(false);
    const expected = answerOf(first.result);
    mutateAll(first.result);
    for (let i = 0; i < 2; i++) {
      const replay = await streamed(e, req);
      expect(replay.result.cached).toBe(true);
      expect(replay.text).toBe((expected as { text: string }).text);
      expect(answerOf(replay.result)).toEqual(expected);
      mutateAll(replay.result);
    }
    expect(answerOf(await e.complete(req))).toEqual(expected);
    expect(fake.stats('p').requests).toBe(1);
  });
});

describe('answers from the shared store are never shared objects', () => {
  const REDIS = 'redis://127.0.0.1:6379';
  let prefix: string;
  beforeEach(() => {
    prefix = `klr-test-${randomUUID()}:`;
  });
  const shared = (): Partial<LlmResilienceOptions> => ({ cache: { store: redisStore({ url: REDIS, prefix, timeoutMs: 1000 }), ttlMs: 20_000 } });

  it('an answer read from Redis may be changed by its caller; the next hit in that process is as it was', async () => {
    const a = engine(shared());
    const b = engine(shared());
    fake.setBehavior('p', { text: JSON.stringify({ deep: { list: [1, 2, { z: 'z' }] } }) });
    const req = ask();
    const expected = answerOf(await a.complete(req));
    await sleep(20);
    const fromRedis = await b.complete(req);
    expect(fromRedis.cached).toBe(true);
    expect(answerOf(fromRedis)).toEqual(expected);
    mutateAll(fromRedis);
    const fromLru = await b.complete(req);
    expect(fromLru.cached).toBe(true);
    expect(answerOf(fromLru)).toEqual(expected);
    expect(fake.stats('p').requests).toBe(1);
  });

  it('an answer another process shared while two callers here waited for it: each gets its own', async () => {
    const a = engine(shared());
    const b = engine(shared());
    fake.setBehavior('p', { latencyMs: 200, text: JSON.stringify({ k: [{ v: 1 }] }) });
    const req = ask();
    const fromA = a.complete(req);
    await sleep(40); // a holds the Redis lock: b's flight waits for a's answer to land
    const [b1, b2] = await Promise.all([b.complete(req), b.complete(req)]);
    const expected = answerOf(await fromA);
    expect([b1.cached, b2.cached, b2.coalesced]).toEqual([true, true, true]);
    expect(fake.stats('p').requests).toBe(1);
    mutateAll(b1);
    expect(answerOf(b2)).toEqual(expected);
    mutateAll(b2);
    expect(answerOf(await b.complete(req))).toEqual(expected);
  });
});
