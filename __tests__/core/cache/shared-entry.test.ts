/**
 * Whatever sits in Redis under the key an app reads is checked against exactly what this version writes: a value
 * that is not (corrupted, hostile, from another version, naming a model this app does not have, non-finite,
 * oversize) is a miss, the provider answers, and the key is deleted. Generated entries are written straight into
 * the real Redis at 127.0.0.1:6379 and read through a Koa app with `exposeHeaders` over real HTTP.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { LlmResilienceOptions, ModelConfig } from '../../../lib/types';
import { sleep, startApp, type TestApp } from '../../helpers/app';

const REDIS = 'redis://127.0.0.1:6379';
/** A configured model whose name holds CR/LF: valid in an entry, and its header must still be well-formed. */
const ODD_NAME = 'backup\r\nx-injected: 1';

let fake: FakeLlm;
let redis: Redis;
let prefix: string;
let writer: LlmEngine;
let reader: TestApp;
beforeAll(async () => {
  fake = await startFakeLlm();
  redis = new Redis(REDIS);
  prefix = `klr-test-${randomUUID()}:`;
  const store = () => ({ cache: { store: redisStore({ url: REDIS, prefix }), ttlMs: 60_000 } });
  writer = createEngine({ models: models(), ...store() });
  reader = await startApp({ models: models(), ...store(), exposeHeaders: true } as LlmResilienceOptions);
});
afterAll(async () => {
  await writer.close();
  await reader.close();
  redis.disconnect();
  await fake.close();
});

function models(): ModelConfig[] {
  return [
    { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
    { name: ODD_NAME, model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
  ];
}

const known = new Set<string>();
/** A question the writer answers and stores in Redis; its key and the raw value it wrote. */
async function stored(): Promise<{ body: object; key: string; good: Record<string, unknown> }> {
  const body = { messages: [{ role: 'user', content: `entry ${randomUUID()}` }], temperature: 0 };
  await writer.complete(body as never);
  let key = '';
  for (const end = Date.now() + 2000; !key && Date.now() < end; await sleep(5)) {
    key = (await redis.keys(`${prefix}cache:*`)).find((k) => !known.has(k)) ?? '';
  }
  known.add(key);
  const raw = await redis.get(key);
  return { body, key, good: JSON.parse(raw as string) as Record<string, unknown> };
}

/** Reads `body` through the reader app: must be a miss answered by the provider, never a 500. */
async function expectMiss(body: object, key: string, hostile: string): Promise<void> {
  const before = fake.stats().requests;
  const res = await request(reader.url).post('/complete').send(body);
  expect(res.status).toBe(200);
  expect(res.body.cached).toBe(false);
  expect(res.headers['x-llm-cache']).toBe('miss');
  expect(res.headers['x-llm-model']).toBe('primary');
  expect(fake.stats().requests).toBe(before + 1);
  // deleted (and then written again with the provider's fresh answer)
  let now: string | null = hostile;
  for (const end = Date.now() + 1000; now === hostile && Date.now() < end; await sleep(5)) now = await redis.get(key);
  expect(now).not.toBe(hostile);
  if (now !== null) expect(JSON.parse(now)).toMatchObject({ klr: 1, a: { model: 'primary', finishReason: 'stop' } });
}

type Entry = Record<string, unknown> & { a: Record<string, unknown> & { usage: Record<string, unknown> } };
const PATHS = [['klr'], ['e'], ['a'], ['a', 'text'], ['a', 'model'], ['a', 'providerModel'], ['a', 'fallback'], ['a', 'usage'], ['a', 'finishReason'], ['a', 'usage', 'promptTokens'], ['a', 'usage', 'completionTokens'], ['a', 'usage', 'totalTokens']];
const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const parentOf = (e: Entry, path: string[]): Record<string, unknown> => path.slice(0, -1).reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, e);
/** A marker the raw text replaces with `1e999`, which parses to Infinity. */
const INF = '__non_finite__';

/** Ways to spoil a good entry, each one something this version never writes. */
const spoil: fc.Arbitrary<(e: Entry) => void> = fc.oneof(
  // a field of the wrong type
  fc.tuple(fc.constantFrom(...PATHS), fc.jsonValue({ maxDepth: 2 })).map(([path, v]) => (e: Entry) => {
    const parent = parentOf(e, path);
    const last = path[path.length - 1];
    parent[last] = kind(v) === kind(parent[last]) ? [v] : v;
  }),
  // a field missing
  fc.constantFrom(...PATHS).map((path) => (e: Entry) => void delete parentOf(e, path)[path[path.length - 1]]),
  // a field this version does not write, at any level
  fc.tuple(fc.constantFrom([], ['a'], ['a', 'usage']), fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })).map(([at, name, v]) => (e: Entry) => {
    const o = at.reduce<Record<string, unknown>>((x, k) => x[k] as Record<string, unknown>, e);
    const extra = name in o || name === 'json' || name === 'costUsd' ? `${name}_extra` : name;
    Object.defineProperty(o, extra, { value: v, enumerable: true, writable: true, configurable: true });
  }),
  // a model this app does not have (CR/LF and all), a finish reason other than 'stop', another version tag
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => s !== 'primary' && s !== ODD_NAME).map((s) => (e: Entry) => void (e.a.model = s)),
  fc.string({ maxLength: 20 }).filter((s) => s !== 'stop').map((s) => (e: Entry) => void (e.a.finishReason = s)),
  fc.integer().filter((n) => n !== 1).map((n) => (e: Entry) => void (e.klr = n)),
  // numbers out of range: negative, non-finite, an expiry already past
  fc.constantFrom<(e: Entry) => void>(
    (e) => void (e.a.usage.promptTokens = -1),
    (e) => void (e.a.usage.totalTokens = INF),
    (e) => void (e.a.usage.costUsd = INF),
    (e) => void (e.e = INF),
    (e) => void (e.e = Date.now() - 1000),
    (e) => void (e.a.usage = null as never),
    (e) => void (e.a.json = { n: INF }),
    (e) => void (e.a.json = [1, [2, { deep: INF }]]),
  ),
);

const hostile: fc.Arbitrary<(good: Entry) => string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(spoil, { minLength: 1, maxLength: 3 }).map((fns) => (good: Entry) => {
    const e = structuredClone(good);
    for (const f of fns) {
      try {
        f(e);
      } catch {
        // an earlier spoil already took away what this one changes: the entry is spoilt anyway
      }
    }
    return JSON.stringify(e).split(JSON.stringify(INF)).join('1e999');
  }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => () => s) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => () => JSON.stringify(v) ?? 'null') },
);

describe('entries read from the shared store', () => {
  it('a good entry is a hit, also one naming a configured model whose name holds CR/LF (its header encoded)', async () => {
    const { body, key, good } = await stored();
    const odd = structuredClone(good) as Entry;
    odd.a.model = ODD_NAME;
    await redis.set(key, JSON.stringify(odd), 'PX', 10_000);
    const before = fake.stats().requests;
    const res = await request(reader.url).post('/complete').send(body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cached: true, model: ODD_NAME });
    expect(res.headers['x-llm-cache']).toBe('hit');
    expect(res.headers['x-llm-model']).toBe('backup%0D%0Ax-injected:%201');
    expect(decodeURIComponent(res.headers['x-llm-model'])).toBe(ODD_NAME);
    expect(res.headers['x-injected']).toBeUndefined();
    expect(fake.stats().requests).toBe(before);
  });

  it('anything else is a miss: the provider answers, the key is deleted, the response is never a 500', async () => {
    let misses = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (make) => {
        const { body, key, good } = await stored();
        const raw = make(good as Entry);
        await redis.set(key, raw, 'PX', 10_000);
        await expectMiss(body, key, raw);
        misses++;
      }),
      { numRuns: 120 },
    );
    expect(misses).toBe(120);
  });

  it('a value larger than any answer is a miss (not even parsed), and is deleted', async () => {
    const { body, key, good } = await stored();
    const big = structuredClone(good) as Entry;
    big.a.text = 'x'.repeat(8 * 1024 * 1024 + 1);
    const raw = JSON.stringify(big);
    await redis.set(key, raw, 'PX', 10_000);
    await expectMiss(body, key, raw);
  });
});
