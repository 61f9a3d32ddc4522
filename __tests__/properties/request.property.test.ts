import http from 'node:http';
import fc from 'fast-check';
import Koa from 'koa';
import request from 'supertest';
import { llmResilience, RequestError } from '../../lib';
import { normalizeRequest } from '../../lib/core/request/normalize-request';
import { requestSchema } from '../../lib/core/request/request-schema';
import { MAX_TIMER_MS } from '../../lib/core/timer-delay';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { readJson } from '../helpers/app';

let fake: FakeLlm;
let llm: ReturnType<typeof llmResilience>;
let server: http.Server;

beforeAll(async () => {
  fake = await startFakeLlm();
  llm = llmResilience({
    models: [
      { name: 'a', model: 'ma', baseURL: fake.url, apiKey: 'k', timeoutMs: 500, maxOutputTokens: 64 },
      { name: 'b', model: 'mb', baseURL: fake.url, apiKey: 'k', timeoutMs: 500 },
    ],
    cache: { max: 50 },
    maxPromptChars: 2000,
  });
  const app = new Koa();
  app.silent = true;
  app.use(llm);
  app.use(async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as never);
  });
  server = http.createServer(app.callback());
});
afterAll(async () => {
  await llm.close();
  await fake.close();
});

const odd = fc.anything({ maxDepth: 1 });
/** Mostly a valid value, sometimes something odd: so results and errors are both explored. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: odd, weight: 1 });
const message = fc.record(
  { role: mostly(fc.constantFrom('system', 'user', 'assistant')), content: mostly(fc.string({ minLength: 1, maxLength: 30 })) },
  { requiredKeys: ['role'] },
);
const params = {
  maxTokens: mostly(fc.integer({ min: 1, max: 5000 })),
  temperature: mostly(fc.double({ min: 0, max: 2, noNaN: true })),
  stop: mostly(fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 5 }))),
  models: mostly(fc.constantFrom(['a'], ['b'], ['b', 'a'], ['nope'])),
  cache: mostly(fc.boolean()),
};
const body = fc.oneof(
  { arbitrary: fc.anything({ maxDepth: 2 }), weight: 1 },
  { arbitrary: fc.record({ messages: mostly(fc.array(message, { minLength: 1, maxLength: 3 })), ...params }, { requiredKeys: ['messages'] }), weight: 4 },
  { arbitrary: fc.record({ prompt: mostly(fc.string({ minLength: 1, maxLength: 40 })), ...params, junk: odd }, { requiredKeys: ['prompt'] }), weight: 4 },
);

describe('arbitrary request bodies over HTTP', () => {
  it('give a result (200) or a typed 400/413, never a 5xx, a crash or a provider call for a bad request', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = fake.stats().requests;
        const res = await request(server).post('/').set('content-type', 'application/json').send(JSON.stringify(b ?? null));
        expect([200, 400, 413]).toContain(res.status);
        seen.add(res.status);
        if (res.status === 200) {
          expect(typeof res.body.text).toBe('string');
          expect(['a', 'b']).toContain(res.body.model);
        } else {
          expect(res.body.error.type).toBe('invalid_request');
          expect(res.body.error.details.length).toBeGreaterThan(0);
          expect(fake.stats().requests).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
    expect(seen.has(200) && seen.has(400)).toBe(true);
  });

  it('rejects an oversized prompt with 413 before any upstream call', async () => {
    const before = fake.stats().requests;
    const res = await request(server).post('/').send({ prompt: 'x'.repeat(2001) });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ type: 'invalid_request', code: 'REQUEST_TOO_LARGE' });
    expect(res.body.error.message).toMatch(/2001 characters; the limit is 2000/);
    expect(fake.stats().requests).toBe(before);
  });

  it('caps maxTokens at the model\'s maxOutputTokens', async () => {
    await request(server).post('/').send({ prompt: 'cap me', maxTokens: 4000, cache: false }).expect(200);
    expect(fake.requests('ma').at(-1)?.body.max_tokens).toBe(64);
  });

  it('__proto__ and constructor keys in a body pollute nothing', async () => {
    const res = await request(server).post('/').set('content-type', 'application/json').send('{"prompt":"p","__proto__":{"cache":false,"isAdmin":true},"constructor":{"prototype":{"x":1}}}');
    expect(res.status).toBe(400);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('duration fields of a request', () => {
  const FIELDS = ['timeoutMs', 'deadlineMs'] as const;

  it('every …Ms field of the request schema is an integer bounded by the longest Node timer, and is listed here', () => {
    const fields = Object.entries(requestSchema.properties).filter(([k]) => /Ms$/.test(k));
    expect(fields.map(([k]) => k).sort()).toEqual([...FIELDS].sort());
    for (const [, s] of fields) expect(s).toMatchObject({ type: 'integer', minimum: 1, maximum: MAX_TIMER_MS });
  });

  it.each(FIELDS)('%s takes every integer from 1 to 2^31-1', (field) => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(1, MAX_TIMER_MS), fc.integer({ min: 1, max: MAX_TIMER_MS })), (v) => {
        expect(normalizeRequest({ prompt: 'p', [field]: v }, []).chain).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it.each(FIELDS)('%s refuses anything else with a RequestError naming it, over HTTP a 400 before any upstream call', async (field) => {
    const bad = fc.oneof(
      fc.integer({ min: MAX_TIMER_MS + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(MAX_TIMER_MS + 1, 2 ** 31, 2 ** 32, 1e21, 0, -1, 1.5, '1000', null, true),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: 0 }),
      fc.double({ min: 1, max: MAX_TIMER_MS, noInteger: true }),
    );
    fc.assert(
      fc.property(bad, (v) => {
        let err: unknown;
        try {
          normalizeRequest({ prompt: 'p', [field]: v } as never, []);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(RequestError);
        expect((err as RequestError).details.some((d) => d.startsWith(`/${field}:`))).toBe(true);
      }),
      { numRuns: 100 },
    );
    const before = fake.stats().requests;
    const res = await request(server).post('/').send({ prompt: 'huge', [field]: 2 ** 31 });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([`/${field}: must be <= ${MAX_TIMER_MS}`]);
    expect(fake.stats().requests).toBe(before);
  });
});
