/**
 * The semantic cache's partition is everything the exact key covers but the last user message's text: two
 * requests that differ in anything else (a message's `name`, an earlier message, a content part, a parameter,
 * the chain, the tenant) never share a semantic hit; two that differ only in the prompt's wording may.
 * Driven through the engine over real HTTP, with an embedding endpoint that calls every prompt identical.
 */
import fc from 'fast-check';
import { createEngine, type LlmEngine } from '../../../../lib';
import { cacheKey, keyWithoutPrompt } from '../../../../lib/core/cache/cache-key';
import { resolveOptions } from '../../../../lib/core/options/resolve-options';
import { normalizeRequest } from '../../../../lib/core/request/normalize-request';
import { startFakeLlm, type FakeLlm } from '../../../../lib/testing';
import type { ChatMessage, CompletionRequest } from '../../../../lib/types';
import { startSameVectorEmbeddings, type SameVectorEmbeddings } from './same-vector-embeddings';

let fake: FakeLlm;
let embeddings: SameVectorEmbeddings;
beforeAll(async () => {
  // JSON, so that requests with an answer `schema` are answered (and cached) too
  fake = await startFakeLlm({ behaviors: { '*': { text: '{"ok":true}' } } });
  embeddings = await startSameVectorEmbeddings();
});
afterAll(async () => {
  await fake.close();
  await embeddings.close();
});

const modelConfigs = () => [
  { name: 'a', model: 'ma', baseURL: fake.url, apiKey: 'k' },
  { name: 'b', model: 'mb', baseURL: fake.url, apiKey: 'k' },
];
const chatCalls = (): number => fake.requests('ma').length + fake.requests('mb').length;

/** A request and the tenant scope it is made in. */
interface Call {
  req: CompletionRequest;
  scope: string;
}

/** Two calls in a fresh engine: what the second one got, and how many chat and embedding requests both made. */
async function twoCalls(first: Call, second: Call): Promise<{ cached: unknown; chats: number; embedded: number }> {
  const e: LlmEngine = createEngine({
    models: modelConfigs(),
    // every temperature may use the semantic cache here, so that temperature is one of the fields that varies
    cache: { semantic: { embeddingModel: 'embed', baseURL: embeddings.url, apiKey: 'k', allowNonDeterministic: true } },
  });
  const chats = chatCalls();
  const embedded = embeddings.inputs.length;
  try {
    await e.complete(first.req, { scope: first.scope });
    const r = await e.complete(second.req, { scope: second.scope });
    return { cached: r.cached, chats: chatCalls() - chats, embedded: embeddings.inputs.length - embedded };
  } finally {
    await e.close();
  }
}

const word = fc.stringMatching(/^[a-z]{2,8}$/);
const sentence = fc.array(word, { minLength: 1, maxLength: 5 }).map((w) => w.join(' '));
const nameArb = fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { nil: undefined });
const imagePart = fc.stringMatching(/^[a-z]{1,8}$/).map((p) => ({ type: 'image_url' as const, image_url: { url: `https://img.example/${p}.png` } }));
const textPart = sentence.map((text) => ({ type: 'text' as const, text }));
const contentArb = fc.oneof(sentence, fc.array(fc.oneof(textPart, imagePart), { minLength: 1, maxLength: 3 }));

const earlierArb: fc.Arbitrary<ChatMessage> = fc.oneof(
  fc.record({ role: fc.constant('user' as const), content: contentArb, name: nameArb }),
  fc.record({ role: fc.constantFrom('system' as const, 'assistant' as const), content: sentence, name: nameArb }),
).map((m) => withoutUndefined(m) as ChatMessage);

const callArb: fc.Arbitrary<Call> = fc.record({
  earlier: fc.array(earlierArb, { maxLength: 2 }),
  prompt: sentence,
  lastName: nameArb,
  temperature: fc.option(fc.constantFrom(0, 0.5, 1), { nil: undefined }),
  topP: fc.option(fc.constantFrom(0.5, 1), { nil: undefined }),
  seed: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
  stop: fc.option(fc.oneof(word, fc.array(word, { minLength: 1, maxLength: 2 })), { nil: undefined }),
  maxTokens: fc.option(fc.integer({ min: 50, max: 60 }), { nil: undefined }),
  responseFormat: fc.option(fc.constantFrom({ type: 'text' as const }, { type: 'json_object' as const }), { nil: undefined }),
  schema: fc.option(fc.constantFrom({ type: 'object' }, { type: 'object', properties: { ok: { type: 'boolean' } } }), { nil: undefined }),
  models: fc.option(fc.constantFrom(['a'], ['b'], ['a', 'b'], ['b', 'a']), { nil: undefined }),
  scope: fc.constantFrom('', 'tenant-1', 'tenant-2'),
}).map(({ earlier, prompt, lastName, scope, ...params }) => ({
  scope,
  req: withoutUndefined({ messages: [...earlier, withoutUndefined({ role: 'user', content: prompt, name: lastName }) as ChatMessage], ...params }) as CompletionRequest,
}));

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const messagesOf = (c: Call): ChatMessage[] => c.req.messages as ChatMessage[];
const withMessages = (c: Call, messages: ChatMessage[]): Call => ({ ...c, req: { ...c.req, messages } });
const withParam = (c: Call, field: keyof CompletionRequest, value: unknown): Call =>
  ({ ...c, req: withoutUndefined({ ...c.req, [field]: value }) as CompletionRequest });
const withMessage = (c: Call, i: number, change: (m: Record<string, unknown>) => Record<string, unknown>): Call => {
  const messages = messagesOf(c).slice();
  const at = i % messages.length;
  messages[at] = withoutUndefined(change({ ...(messages[at] as unknown as Record<string, unknown>) })) as unknown as ChatMessage;
  return withMessages(c, messages);
};
const earlierIndex = (c: Call, i: number): number => i % Math.max(1, messagesOf(c).length - 1);
const hasEarlier = (c: Call): boolean => messagesOf(c).length > 1;

/** One field the exact key covers, changed; null when the change does not apply to this call. */
type Change = (c: Call) => Call | null;
const changeArb: fc.Arbitrary<[string, Change]> = fc.oneof(
  fc.tuple(fc.nat(), nameArb).map(([i, name]): [string, Change] => ["a message's name", (c) => withMessage(c, i, (m) => ({ ...m, name }))]),
  nameArb.map((name): [string, Change] => ["the last message's name", (c) => withMessage(c, -1 + messagesOf(c).length, (m) => ({ ...m, name }))]),
  fc.tuple(word, fc.jsonValue()).map(([k, v]): [string, Change] => ["another member of the last message", (c) => withMessage(c, messagesOf(c).length - 1, (m) => ({ ...m, [`x_${k}`]: v }))]),
  fc.tuple(fc.nat(), fc.constantFrom('system', 'user', 'assistant')).map(([i, role]): [string, Change] =>
    ["an earlier message's role", (c) => (hasEarlier(c) ? withMessage(c, earlierIndex(c, i), (m) => ({ ...m, role })) : null)]),
  fc.tuple(fc.nat(), contentArb).map(([i, content]): [string, Change] =>
    ["an earlier message's content", (c) => (hasEarlier(c) ? withMessage(c, earlierIndex(c, i), (m) => ({ ...m, role: 'user', content })) : null)]),
  fc.tuple(fc.nat(), sentence).map(([i, text]): [string, Change] =>
    ["an earlier message's text, as a content part", (c) => (hasEarlier(c) ? withMessage(c, earlierIndex(c, i), (m) => ({ ...m, role: 'user', content: [{ type: 'text', text }] })) : null)]),
  fc.tuple(fc.nat(), imagePart).map(([i, part]): [string, Change] =>
    ['an image part', (c) => (hasEarlier(c) ? withMessage(c, earlierIndex(c, i), (m) => ({ ...m, role: 'user', content: [...(Array.isArray(m.content) ? m.content : [{ type: 'text', text: String(m.content) }]), part] })) : null)]),
  earlierArb.map((m): [string, Change] => ['one more earlier message', (c) => withMessages(c, [m, ...messagesOf(c)])]),
  fc.constant<[string, Change]>(['one earlier message fewer', (c) => (hasEarlier(c) ? withMessages(c, messagesOf(c).slice(1)) : null)]),
  fc.option(fc.constantFrom(0, 0.5, 1, 2), { nil: undefined }).map((v): [string, Change] => ['temperature', (c) => withParam(c, 'temperature', v)]),
  fc.option(fc.constantFrom(0.5, 0.9, 1), { nil: undefined }).map((v): [string, Change] => ['topP', (c) => withParam(c, 'topP', v)]),
  fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }).map((v): [string, Change] => ['seed', (c) => withParam(c, 'seed', v)]),
  fc.option(fc.oneof(word, fc.array(word, { minLength: 1, maxLength: 3 })), { nil: undefined }).map((v): [string, Change] => ['stop', (c) => withParam(c, 'stop', v)]),
  fc.option(fc.integer({ min: 40, max: 70 }), { nil: undefined }).map((v): [string, Change] => ['maxTokens', (c) => withParam(c, 'maxTokens', v)]),
  fc.option(fc.constantFrom({ type: 'text' }, { type: 'json_object' }), { nil: undefined }).map((v): [string, Change] => ['responseFormat', (c) => withParam(c, 'responseFormat', v)]),
  fc.option(fc.constantFrom({ type: 'object' }, { type: 'object', required: ['ok'] }), { nil: undefined }).map((v): [string, Change] => ['schema', (c) => withParam(c, 'schema', v)]),
  fc.option(fc.constantFrom(['a'], ['b'], ['a', 'b'], ['b', 'a']), { nil: undefined }).map((v): [string, Change] => ['the model chain', (c) => withParam(c, 'models', v)]),
  fc.constantFrom('', 'tenant-1', 'tenant-2', 'tenant-3').map((scope): [string, Change] => ['the tenant scope', (c) => ({ ...c, scope })]),
);

const { models } = resolveOptions({ models: [{ name: 'a', model: 'ma', apiKey: 'k' }, { name: 'b', model: 'mb', apiKey: 'k' }] });
const keyOf = (c: Call): string => cacheKey(normalizeRequest(c.req, models), c.scope);

/** The same prompt in other words (no number and no negation added or taken away). */
const reworded = (c: Call, extra: string): Call =>
  withMessage(c, messagesOf(c).length - 1, (m) => ({ ...m, content: `${extra} ${String(m.content).toUpperCase()}?` }));

describe('semantic cache partitions', () => {
  it('never serves a request the answer of one that differs in anything the exact key covers but the prompt text', async () => {
    await fc.assert(
      fc.asyncProperty(callArb, changeArb, fc.boolean(), word, async (first, [, change], reword, extra) => {
        const changed = change(first);
        fc.pre(changed !== null && keyOf(changed) !== keyOf(first));
        const second = reword ? reworded(changed!, extra) : changed!;
        const r = await twoCalls(first, second);
        expect(r.embedded).toBe(2); // both prompts were looked up: the partition alone kept them apart
        expect(r.cached).toBe(false);
        expect(r.chats).toBe(2);
      }),
      { numRuns: 150 },
    );
  });

  it('may serve a request that differs only in the wording of its prompt', async () => {
    await fc.assert(
      fc.asyncProperty(callArb, word, async (first, extra) => {
        const r = await twoCalls(first, reworded(first, extra));
        expect(r).toEqual({ cached: 'semantic', chats: 1, embedded: 2 });
      }),
      { numRuns: 40 },
    );
  });

  it("keeps the last message's name in the partition (one user's answer is never another's)", async () => {
    const ask = (name: string): Call => ({ scope: '', req: { temperature: 0, messages: [{ role: 'user', name, content: 'What is my account balance' }] } });
    const r = await twoCalls(ask('alice'), ask('bob'));
    expect(r).toEqual({ cached: false, chats: 2, embedded: 2 });
  });

  it('partitions by the exact key without the prompt: a key that differs in more than the prompt text is another partition', () => {
    fc.assert(
      fc.property(callArb, changeArb, (first, [, change]) => {
        const changed = change(first);
        fc.pre(changed !== null && keyOf(changed) !== keyOf(first));
        const without = (c: Call): string => keyWithoutPrompt(normalizeRequest(c.req, models), c.scope);
        expect(without(changed!)).not.toBe(without(first));
        expect(without(reworded(first, 'so'))).toBe(without(first));
      }),
      { numRuns: 500 },
    );
  });
});
