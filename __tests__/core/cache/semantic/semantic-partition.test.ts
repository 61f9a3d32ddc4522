/**
 * The semantic cache's partition covers everything the exact key covers except the last message's text: two
 * requests that differ in anything else never share an answer, over real HTTP (the fake provider's
 * /v1/embeddings and chat), while a re-worded last message in the same partition still may.
 */
import fc from 'fast-check';
import { createEngine, type LlmEngine } from '../../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../../lib/testing';
import type { ChatMessage, CompletionRequest } from '../../../../lib/types';

let fake: FakeLlm;
let engine: LlmEngine;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
});

function newEngine(): LlmEngine {
  return createEngine({
    models: [
      { name: 'a', model: 'model-a', baseURL: fake.url, apiKey: 'k' },
      { name: 'b', model: 'model-b', baseURL: fake.url, apiKey: 'k' },
    ],
    cache: { semantic: { embeddingModel: 'embed-1', threshold: 0.5, allowNonDeterministic: true } },
  });
}
const chatCalls = () => fake.requests('model-a').length + fake.requests('model-b').length;

type Variant = { request: CompletionRequest; scope?: string };
const base = (): Variant => ({
  request: {
    messages: [
      { role: 'system', content: 'You answer briefly.' },
      { role: 'user', content: 'What is the capital of France?', name: 'alice' },
    ],
    temperature: 0,
  },
  scope: 'tenant-1',
});

/** One change to anything the exact key covers, leaving the last message's text as it is. */
const change = fc.oneof(
  fc.stringMatching(/^[a-z]{1,12}$/).filter((n) => n !== 'alice').map((name) => ['last message name', (v: Variant) => {
    const m = v.request.messages as ChatMessage[];
    m[m.length - 1] = { ...(m[m.length - 1] as object), name } as ChatMessage;
  }] as const),
  fc.constant(['last message without name', (v: Variant) => {
    const m = v.request.messages as ChatMessage[];
    m[m.length - 1] = { role: 'user', content: (m[m.length - 1] as { content: string }).content };
  }] as const),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s !== 'You answer briefly.').map((s) => ['system text', (v: Variant) => {
    (v.request.messages as ChatMessage[])[0] = { role: 'system', content: s };
  }] as const),
  fc.constant(['system as developer', (v: Variant) => {
    (v.request.messages as ChatMessage[])[0] = { role: 'developer', content: 'You answer briefly.' } as ChatMessage;
  }] as const),
  fc.constant(['an earlier turn added', (v: Variant) => {
    (v.request.messages as ChatMessage[]).splice(1, 0, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' });
  }] as const),
  fc.double({ min: 0.01, max: 2, noNaN: true }).map((t) => ['temperature', (v: Variant) => void (v.request.temperature = t)] as const),
  fc.double({ min: 0, max: 0.99, noNaN: true }).map((p) => ['topP', (v: Variant) => void (v.request.topP = p)] as const),
  fc.integer({ min: 1, max: 4000 }).map((n) => ['maxTokens', (v: Variant) => void (v.request.maxTokens = n)] as const),
  fc.integer().map((n) => ['seed', (v: Variant) => void (v.request.seed = n)] as const),
  fc.string({ minLength: 1, maxLength: 5 }).map((s) => ['stop', (v: Variant) => void (v.request.stop = [s])] as const),
  fc.constant(['responseFormat', (v: Variant) => void (v.request.responseFormat = { type: 'json_object' })] as const),
  fc.constant(['chain', (v: Variant) => void (v.request.models = ['b'])] as const),
  fc.constant(['truncate', (v: Variant) => void (v.request.truncate = 'oldest')] as const),
  fc.stringMatching(/^[a-z0-9-]{0,12}$/).filter((s) => s !== 'tenant-1').map((s) => ['scope', (v: Variant) => void (v.scope = s)] as const),
);

describe('semantic cache partitions', () => {
  beforeEach(() => {
    engine = newEngine();
  });
  afterEach(async () => {
    await engine.close();
  });

  it('a request differing only in one field the exact key covers (besides the last text) is never a semantic hit', async () => {
    await fc.assert(
      fc.asyncProperty(change, async ([what, apply]) => {
        const e = newEngine();
        try {
          const first = base();
          await e.complete(first.request, { scope: first.scope });
          const before = chatCalls();
          const second = base();
          apply(second);
          const r = await e.complete(second.request, { scope: second.scope });
          expect({ what, cached: r.cached }).toEqual({ what, cached: false });
          expect(chatCalls()).toBe(before + 1);
        } finally {
          await e.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the same request with its last message re-worded is a hit (the partition leaves out only that text)', async () => {
    const first = base();
    await engine.complete(first.request, { scope: first.scope });
    const second = base();
    (second.request.messages as ChatMessage[])[1] = { role: 'user', content: 'what is the capital of france', name: 'alice' };
    const r = await engine.complete(second.request, { scope: second.scope });
    expect(r.cached).toBe('semantic');
  });

  it('a typographic re-spelling of the opposite prompt is never served its answer', async () => {
    const ask = (content: string): CompletionRequest => ({ messages: [{ role: 'user', content }], temperature: 0 });
    const pairs: [string, string][] = [
      ['Do I need to water this plant daily?', 'Don\u2019t I need to water this plant daily?'],
      ['Is it safe to water this plant daily?', 'Is it n\u043Et safe to water this plant daily?'],
      ['Do I water this plant 3 times daily?', 'Do I water this plant \uFF12 times daily?'],
      ['Do I water this plant 3 times daily?', 'Do I water this plant \u0662 times daily?'],
      ['What is 10^3 in words?', 'What is 10^\u22123 in words?'],
      ['What is 10^3 in words?', 'What is 10\u207B\u00B3 in words?'],
      ['What is 10^3 in words?', 'What is \u221210^3 in words?'],
    ];
    for (const [original, opposite] of pairs) {
      const e = newEngine();
      try {
        await e.complete(ask(original));
        const before = chatCalls();
        const r = await e.complete(ask(opposite));
        expect({ opposite, cached: r.cached }).toEqual({ opposite, cached: false });
        expect(chatCalls()).toBe(before + 1);
        // and the same meaning, re-spelt, still is a hit
        expect((await e.complete(ask(original.replace('3', '\u0663')))).cached).toBe(original.includes('3') ? 'semantic' : true);
      } finally {
        await e.close();
      }
    }
  });
});
