/**
 * Whatever sits in Redis under the key an app reads is checked against exactly what this version writes: a value
 * that is not (corrupted, hostile, from another version, naming a model this app does not have, non-finite,
 * oversize) is a miss, the provider answers, and the key is deleted. Generated entries are written straight into
 * the real Redis at 127.0.0.1:6379 and read through a Koa app with `exposeHeaders` over real HTTP.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import Koa from 'koa';
import request from 'supertest';
import { createEngine, type LlmEngine, openAICompatibleRouter, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, ModelConfig } from '../../../lib/types';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { type Listening, listen, sleep, startApp, type TestApp, waitFor } from '../../helpers/app';

const REDIS = 'redis://127.0.0.1:6379';
/**
 * The stores' timeout: generous, since these tests are about what is read, not about how long Redis takes (an
 * 8 MiB value may take longer than the default 50 ms to arrive, and a store that times out is taken for down).
 */
const STORE_TIMEOUT_MS = 5000;
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
  // adaptiveTimeout off: after 120 fast answers a learned timeout near 50 ms could take the 8 MiB case (slow on a
  // busy machine) for the primary timing out; these tests are about what is read, not about timing
  // each read counts the provider's calls: no rescue (a loaded machine's stall past a fast model's p99) adds one
  const store = () => ({ adaptiveTimeout: false, rescue: false, cache: { store: redisStore({ url: REDIS, prefix, timeoutMs: STORE_TIMEOUT_MS }), ttlMs: 60_000 } });
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

/**
 * The Redis key (prefix and all) under which `engine` stores its answer to `ask()`, and the value it wrote there.
 * The key is the one of the engine's own cache miss (its event), never found by listing keys: whatever else
 * sits under the prefix (fill locks, answers other requests are still writing) cannot be taken for it.
 */
async function storedBy(engine: LlmEngine, storePrefix: string, ask: () => Promise<unknown>): Promise<{ key: string; good: Entry }> {
  let missed: string | undefined;
  const off = engine.on('cache:miss', (e) => void (missed ??= e.key));
  try {
    await ask();
  } finally {
    off();
  }
  if (missed === undefined) throw new Error('the request was not a cache miss');
  const key = `${storePrefix}cache:${missed}`;
  let raw: string | null = null;
  for (const end = Date.now() + 2000; raw === null && Date.now() < end; await sleep(5)) raw = await redis.get(key);
  if (raw === null) throw new Error(`nothing was stored under ${key}`);
  return { key, good: JSON.parse(raw) as Entry };
}

/** A question the writer answers and stores in Redis; its key and the raw value it wrote. */
async function stored(): Promise<{ body: object; key: string; good: Record<string, unknown> }> {
  const body = { messages: [{ role: 'user', content: `entry ${randomUUID()}` }], temperature: 0 };
  return { body, ...(await storedBy(writer, prefix, () => writer.complete(body as never))) };
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

/**
 * An entry of the right shape whose content an answer from the provider could not have (blank text; for a request
 * with a schema, `json` missing, refused by the schema, or not what the text says) would have been a failed
 * attempt: it is a miss wherever a hit is served, the provider answers, and the entry is replaced. Each test has
 * its own fake provider, engines and key prefix, and deletes everything under that prefix when done.
 */
describe('entries whose content the request refuses', () => {
  const TOKEN = 'gateway-token-0123456789';
  const SCHEMA = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'], additionalProperties: false };
  /** What the provider answers the reader: never what the writer stored. */
  const FRESH = 'a fresh answer';

  interface Apart {
    fake: FakeLlm;
    prefix: string;
    /** Writes entries (another process). */
    writer: LlmEngine;
    /** Reads them: its `ctx.llm` behind POST /complete. */
    reader: TestApp;
    /** The gateway of each (their own engines). */
    writerGateway: Listening;
    readerGateway: Listening;
  }
  let apart: Apart | undefined;
  afterEach(async () => {
    const a = apart;
    apart = undefined;
    if (!a) return;
    await a.writerGateway.close();
    await a.readerGateway.close();
    await a.writer.close();
    await a.reader.close();
    await a.fake.close();
    const left = await redis.keys(`${a.prefix}*`);
    if (left.length > 0) await redis.del(...left);
  });

  async function gateway(engine: LlmEngine): Promise<Listening> {
    const app = new Koa();
    app.use(openAICompatibleRouter({ apiKeys: [TOKEN], llm: { engine } }).routes());
    return listen(app);
  }

  async function setUp(): Promise<Apart> {
    const fake = await startFakeLlm();
    const ownPrefix = `klr-test-${randomUUID()}:`;
    const options = (): LlmResilienceOptions => ({
      models: [{ name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 }],
      cache: { store: redisStore({ url: REDIS, prefix: ownPrefix, timeoutMs: STORE_TIMEOUT_MS }), ttlMs: 60_000 },
      exposeHeaders: true,
    });
    const w = createEngine(options());
    const r = await startApp(options());
    apart = { fake, prefix: ownPrefix, writer: w, reader: r, writerGateway: await gateway(w), readerGateway: await gateway(r.llm.engine) };
    return apart;
  }

  /** The writer's answer to `ask()`, spoilt in Redis by `spoil`; the reader's provider then answers `fresh`. */
  async function plant(a: Apart, ask: () => Promise<unknown>, spoil: (e: Entry & { a: { json?: unknown } }) => void, fresh = FRESH): Promise<{ key: string; raw: string }> {
    const { key, good } = await storedBy(a.writer, a.prefix, ask);
    spoil(good);
    const raw = JSON.stringify(good);
    await redis.set(key, raw, 'PX', 10_000);
    a.fake.setBehavior('p', { text: fresh });
    return { key, raw };
  }

  /** Waits until the spoilt value is gone from Redis, replaced by the provider's fresh answer. */
  async function expectReplaced(key: string, raw: string, fresh: string): Promise<void> {
    let now: string | null = raw;
    for (const end = Date.now() + 2000; (now === raw || now === null) && Date.now() < end; await sleep(5)) now = await redis.get(key);
    expect(now).not.toBeNull();
    expect(JSON.parse(now as string)).toMatchObject({ klr: 1, a: { text: fresh, finishReason: 'stop' } });
  }

  const plain = (): CompletionRequest => ({ messages: [{ role: 'user', content: `entry ${randomUUID()}` }], temperature: 0 });
  const typed = (): CompletionRequest => ({ ...plain(), schema: SCHEMA });
  type Spoil = (e: Entry & { a: { json?: unknown } }) => void;
  /** Each case: the request, what the writer's provider answers, how its entry is spoilt, what the reader's provider answers. */
  const CASES: [string, () => CompletionRequest, string | undefined, Spoil, string][] = [
    ['empty text', plain, undefined, (e) => void (e.a.text = ''), FRESH],
    ['whitespace-only text', plain, undefined, (e) => void (e.a.text = ' \n\t\u00a0 '), FRESH],
    ['a schema request, json missing', typed, '{"n":1}', (e) => void delete e.a.json, '{"n":2}'],
    ['a schema request, json the schema refuses (text and json alike)', typed, '{"n":1}', (e) => void ((e.a.text = '{"n":"one"}'), (e.a.json = { n: 'one' })), '{"n":2}'],
    ['a schema request, json not what the text says', typed, '{"n":1}', (e) => void (e.a.json = { n: 3 }), '{"n":2}'],
    ['a schema request, text that is not JSON', typed, '{"n":1}', (e) => void (e.a.text = 'n is one'), '{"n":2}'],
    ['a schema request, empty text', typed, '{"n":1}', (e) => void (e.a.text = ''), '{"n":2}'],
  ];

  it.each(CASES)('ctx.llm.complete: %s is a miss, the provider answers, the entry is replaced', async (_label, make, written, spoil, fresh) => {
    const a = await setUp();
    const body = make();
    if (written !== undefined) a.fake.setBehavior('p', { text: written });
    const { key, raw } = await plant(a, () => a.writer.complete(body), spoil, fresh);
    const before = a.fake.stats().requests;
    const res = await request(a.reader.url).post('/complete').send(body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cached: false, text: fresh, model: 'primary' });
    if (body.schema) expect(res.body.json).toEqual(JSON.parse(fresh));
    expect(res.headers['x-llm-cache']).toBe('miss');
    expect(a.fake.stats().requests).toBe(before + 1);
    await expectReplaced(key, raw, fresh);
    // never served again: the next request is a hit on the fresh answer
    const again = await request(a.reader.url).post('/complete').send(body);
    expect(again.body).toMatchObject({ cached: true, text: fresh });
    expect(a.fake.stats().requests).toBe(before + 1);
  });

  it.each(CASES.filter(([label]) => label === 'empty text' || label.includes('json missing') || label.includes('schema refuses')))(
    'the stream path: %s is a miss, the provider answers',
    async (_label, make, written, spoil, fresh) => {
      const a = await setUp();
      const body = make();
      if (written !== undefined) a.fake.setBehavior('p', { text: written });
      const { key, raw } = await plant(a, () => a.writer.complete(body), spoil, fresh);
      const before = a.fake.stats().requests;
      const stream = a.reader.llm.engine.stream(body);
      let text = '';
      for await (const piece of stream) text += piece;
      const result = await stream.result;
      expect(text).toBe(fresh);
      expect(result).toMatchObject({ cached: false, text: fresh });
      expect(a.fake.stats().requests).toBe(before + 1);
      await expectReplaced(key, raw, fresh);
    },
  );

  /** A chat completion through a gateway: its text and its `x-llm-cache` header. */
  async function viaGateway(g: Listening, content: string, stream: boolean): Promise<{ text: string; cache: string | undefined }> {
    const res = await request(g.url)
      .post('/v1/chat/completions')
      .set('authorization', `Bearer ${TOKEN}`)
      .send({ model: 'default', messages: [{ role: 'user', content }], temperature: 0, ...(stream ? { stream: true } : {}) });
    expect(res.status).toBe(200);
    if (!stream) return { text: res.body.choices[0].message.content as string, cache: res.headers['x-llm-cache'] };
    let text = '';
    for (const line of res.text.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      text += (JSON.parse(line.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '';
    }
    return { text, cache: res.headers['x-llm-cache'] };
  }

  it.each([
    ['a completion', false],
    ['a streamed completion', true],
  ])('the gateway: %s read over an entry with empty text is a miss, the provider answers', async (_label, stream) => {
    const a = await setUp();
    const content = `gateway ${randomUUID()}`;
    const { key, raw } = await plant(a, () => viaGateway(a.writerGateway, content, false), (e) => void (e.a.text = '  '));
    const before = a.fake.stats().requests;
    const got = await viaGateway(a.readerGateway, content, stream);
    expect(got.text).toBe(FRESH);
    if (!stream) expect(got.cache).toBe('miss');
    expect(a.fake.stats().requests).toBe(before + 1);
    await expectReplaced(key, raw, FRESH);
    expect(await viaGateway(a.readerGateway, content, false)).toEqual({ text: FRESH, cache: 'hit' });
    expect(a.fake.stats().requests).toBe(before + 1);
  });

  it('a good entry of a schema request, written by another process, is still a hit (its json as the text says)', async () => {
    const a = await setUp();
    const body = typed();
    a.fake.setBehavior('p', { text: '{ "n": -0.5 }' });
    await storedBy(a.writer, a.prefix, () => a.writer.complete(body));
    const before = a.fake.stats().requests;
    const res = await request(a.reader.url).post('/complete').send(body);
    expect(res.body).toMatchObject({ cached: true, text: '{ "n": -0.5 }', json: { n: -0.5 } });
    expect(a.fake.stats().requests).toBe(before);
  });

  it('the in-process LRU (no shared store): an entry with blank text is a miss, for complete and stream alike', async () => {
    const fake = await startFakeLlm();
    const engine = createEngine({ models: [{ name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 }], cache: { ttlMs: 60_000 } });
    try {
      const streamed = async (b: CompletionRequest): Promise<unknown> => {
        const stream = engine.stream(b);
        for await (const piece of stream) expect(typeof piece).toBe('string');
        return stream.result;
      };
      for (const read of [(b: CompletionRequest) => engine.complete(b), streamed]) {
        const body = plain();
        let key: string | undefined;
        const off = engine.on('cache:miss', (e) => void (key ??= e.key));
        const first = await engine.complete(body);
        off();
        engine.cache?.set(key as string, { ...first, text: ' ' });
        fake.setBehavior('p', { text: FRESH });
        const before = fake.stats().requests;
        expect(await read(body)).toMatchObject({ cached: false, text: FRESH });
        expect(fake.stats().requests).toBe(before + 1);
        expect(await engine.complete(body)).toMatchObject({ cached: true, text: FRESH });
        fake.setBehavior('p', {});
      }
    } finally {
      await engine.close();
      await fake.close();
    }
  });

  it('a semantic lookup: a near match whose entry has blank text is a miss, the provider answers', async () => {
    const fake = await startFakeLlm();
    const ownPrefix = `klr-test-${randomUUID()}:`;
    const engine = () =>
      createEngine({
        models: [{ name: 'main', model: 'm', baseURL: fake.url, apiKey: 'k' }],
        cache: { semantic: { embeddingModel: 'embed-1', threshold: 0.95 }, store: redisStore({ url: REDIS, prefix: ownPrefix, timeoutMs: STORE_TIMEOUT_MS }), ttlMs: 60_000 },
      });
    const w = engine();
    let r: LlmEngine | undefined;
    try {
      const { key, good } = await storedBy(w, ownPrefix, () => w.complete({ messages: [{ role: 'user', content: 'What is the capital of France?' }], temperature: 0 }));
      good.a.text = '';
      await redis.set(key, JSON.stringify(good), 'PX', 10_000);
      // a process that starts later: it warms up from the prompt vector the writer shared
      r = engine();
      const reader = r;
      await waitFor(() => (reader.status().cache?.semanticSize ?? 0) === 1, 2000);
      fake.setBehavior('m', { text: FRESH });
      const before = fake.requests('m').length;
      const got = await reader.complete({ messages: [{ role: 'user', content: 'what is the capital of france' }], temperature: 0 });
      expect(got).toMatchObject({ cached: false, text: FRESH });
      expect(fake.requests('m').length).toBe(before + 1);
    } finally {
      await w.close();
      await r?.close();
      await fake.close();
      const left = await redis.keys(`${ownPrefix}*`);
      if (left.length > 0) await redis.del(...left);
    }
  });
});
