/** The semantic cache over real HTTP (/v1/embeddings on the fake provider), and shared through Redis. */
import { randomUUID } from 'node:crypto';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, SemanticCacheOptions } from '../../../lib/types';
import { waitFor } from '../../helpers/app';

let fake: FakeLlm;
const engines: LlmEngine[] = [];
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await fake.close();
});

function engine(semantic: Partial<SemanticCacheOptions> = {}, store?: ReturnType<typeof redisStore>): LlmEngine {
  const e = createEngine({
    models: [{ name: 'main', model: 'm', baseURL: fake.url, apiKey: 'k' }],
    cache: { semantic: { embeddingModel: 'embed-1', threshold: 0.95, ...semantic }, ...(store ? { store } : {}) },
  });
  engines.push(e);
  return e;
}
const ask = (content: string, extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content }], temperature: 0, ...extra });
const chatCalls = () => fake.requests('m').length;
const embedCalls = () => fake.requests('embed-1').length;

describe('semantic cache', () => {
  it('answers a near-identical prompt from the cache, marked semantic with its similarity', async () => {
    const e = engine();
    const a = await e.complete(ask('What is the capital of France?'));
    const b = await e.complete(ask('what is the capital of france'));
    expect(a.cached).toBe(false);
    expect(b).toMatchObject({ cached: 'semantic', text: a.text, attempts: [] });
    expect(b.similarity).toBeGreaterThanOrEqual(0.95);
    expect(chatCalls()).toBe(1);
    expect(embedCalls()).toBe(2);
    expect(e.status().cache).toMatchObject({ semanticHits: 1, semanticSize: 1 });
  });

  it('is conservative: a merely related prompt is a miss at the default threshold', async () => {
    const e = engine();
    await e.complete(ask('What is the capital of France?'));
    const b = await e.complete(ask('What is the capital of Spain?'));
    expect(b.cached).toBe(false);
    expect(chatCalls()).toBe(2);
  });

  it('never matches prompts whose negations differ, however similar', async () => {
    const e = engine({ threshold: 0.9 });
    await e.complete(ask('Is it safe to mix bleach and ammonia?'));
    const b = await e.complete(ask('Is it not safe to mix bleach and ammonia?'));
    expect(b.cached).toBe(false);
    expect(chatCalls()).toBe(2);
  });

  it('never matches prompts whose numbers differ', async () => {
    const e = engine({ threshold: 0.8 });
    await e.complete(ask('What is 2 + 2?'));
    expect((await e.complete(ask('What is 2 + 3?'))).cached).toBe(false);
  });

  it('never crosses tenants or parameters (hard partitions)', async () => {
    const e = engine();
    await e.complete(ask('What is the capital of France?'), { scope: 'tenant-a' });
    expect((await e.complete(ask('what is the capital of france'), { scope: 'tenant-b' })).cached).toBe(false);
    expect((await e.complete(ask('what is the capital of france', { maxTokens: 5 }), { scope: 'tenant-a' })).cached).toBe(false);
    expect((await e.complete(ask('what is the capital of france'), { scope: 'tenant-a' })).cached).toBe('semantic');
  });

  it('leaves non-deterministic requests and opted-out (personalised) prompts alone, without even embedding them', async () => {
    const e = engine();
    await e.complete({ messages: [{ role: 'user', content: 'Write a poem about the sea' }] }); // temperature unset = 1
    await e.complete(ask('My account number is 12345, what is my balance?', { semanticCache: false }));
    expect(embedCalls()).toBe(0);
    const again = await e.complete({ messages: [{ role: 'user', content: 'write a poem about the sea' }] });
    expect(again.cached).toBe(false);
  });

  it('a failing embedding endpoint costs nothing but the miss', async () => {
    fake.setBehavior('embed-1', { mode: 'error' });
    const e = engine();
    await e.complete(ask('What is the capital of France?'));
    const b = await e.complete(ask('what is the capital of france'));
    expect(b.cached).toBe(false);
    expect(b.text).toMatch(/^m answer/);
  });

  it('with the Redis store, a new process warms up from the vectors another one shared', async () => {
    const prefix = `klr-sem-${randomUUID()}:`;
    const a = engine({}, redisStore({ url: 'redis://127.0.0.1:6379', prefix, timeoutMs: 1000 }));
    await a.complete(ask('What is the capital of France?'));
    const b = engine({}, redisStore({ url: 'redis://127.0.0.1:6379', prefix, timeoutMs: 1000 }));
    await waitFor(() => (b.status().cache?.semanticSize ?? 0) === 1, 2000);
    const r = await b.complete(ask('what is the capital of france'));
    expect(r.cached).toBe('semantic');
    expect(chatCalls()).toBe(1);
  });
});
