import fc from 'fast-check';
import { answerParameters, cacheKey, hashOf, keyWithoutPrompt } from '../../../lib/core/cache/cache-key';
import { stableStringify } from '../../../lib/core/cache/stable-stringify';
import { resolveOptions } from '../../../lib/core/options/resolve-options';
import { normalizeRequest } from '../../../lib/core/request/normalize-request';
import type { CompletionRequest } from '../../../lib/types';

const { models } = resolveOptions({ models: [{ name: 'a', model: 'm-a', apiKey: 'k' }, { name: 'b', model: 'm-b', apiKey: 'k' }] });
const key = (r: CompletionRequest, scope = '') => cacheKey(normalizeRequest(r, models), scope);

describe('stableStringify', () => {
  it('ignores key order and undefined members', () => {
    expect(stableStringify({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(stableStringify({ a: { d: [1, { x: 1, y: 2 }] }, b: 1 }));
  });
  it('treats own __proto__ keys as plain data', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    expect(stableStringify(parsed)).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('cacheKey', () => {
  const base: CompletionRequest = { messages: [{ role: 'user', content: 'hi' }] };

  it('is the same for the same request, whatever the key order', () => {
    const a = key({ temperature: 0, messages: [{ content: 'hi', role: 'user' }] });
    const b = key({ messages: [{ role: 'user', content: 'hi' }], temperature: 0 });
    expect(a).toBe(b);
  });

  it('does not depend on timeoutMs or signal', () => {
    expect(key({ ...base, timeoutMs: 5 })).toBe(key(base));
  });

  it('is unchanged by truncate: false (the keys of requests that do not trim stay what they were)', () => {
    expect(key({ ...base, truncate: false })).toBe(key(base));
  });

  it.each<[string, CompletionRequest]>([
    ['message text', { messages: [{ role: 'user', content: 'hi!' }] }],
    ['message role', { messages: [{ role: 'system', content: 'hi' }] }],
    ['temperature', { ...base, temperature: 0 }],
    ['topP', { ...base, topP: 0.9 }],
    ['maxTokens', { ...base, maxTokens: 5 }],
    ['stop', { ...base, stop: 'x' }],
    ['seed', { ...base, seed: 1 }],
    ['responseFormat', { ...base, responseFormat: { type: 'json_object' } }],
    ['chain', { ...base, models: ['b', 'a'] }],
    ['truncate: oldest', { ...base, truncate: 'oldest' }],
  ])('changes with %s', (_l, changed) => {
    expect(key(changed)).not.toBe(key(base));
  });

  it('changes with the tenant scope', () => {
    expect(key(base, 'tenant-a')).not.toBe(key(base, 'tenant-b'));
  });

  it('is the hash of the stable JSON of its definition (the direct serializer writes exactly that), and keyWithoutPrompt that of the same with the last text left out, for arbitrary requests', () => {
    const text = fc.string({ maxLength: 12 });
    const message = fc.oneof(
      fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: text }),
      fc.record({ role: fc.constant('user'), content: text, name: text }, { requiredKeys: ['role', 'content'] }),
      fc.record({ content: text, role: fc.constant('tool'), tool_call_id: text }, { requiredKeys: ['role', 'content'] }),
      fc.record({ content: fc.oneof(text, fc.constant(null)), role: fc.constant('assistant') }, { requiredKeys: ['role'] }),
      fc.record({ role: fc.constant('user'), content: fc.array(fc.record({ type: fc.constant('text'), text })) }),
      fc.constant(JSON.parse('{"role":"user","content":"x","__proto__":{"a":1}}') as Record<string, unknown>),
      fc.record({ role: fc.constant('assistant'), content: text, name: fc.constant(undefined) }),
    );
    const request = fc.record(
      {
        messages: fc.array(message, { minLength: 1, maxLength: 4 }),
        temperature: fc.double({ min: 0, max: 2, noNaN: true }),
        topP: fc.double({ min: 0, max: 1, noNaN: true }),
        maxTokens: fc.integer({ min: 1, max: 4096 }),
        seed: fc.integer(),
        stop: fc.oneof(text, fc.array(text, { maxLength: 4 })),
        responseFormat: fc.constantFrom({ type: 'json_object' as const }, { type: 'text' as const }),
        // (members that are no JSON Schema keyword: a generated `id` or `type: {}` is a schema the request refuses)
        schema: fc.dictionary(text.map((k) => `x-${k}`), fc.jsonValue(), { maxKeys: 3 }),
        models: fc.shuffledSubarray(['a', 'b'], { minLength: 1 }),
        truncate: fc.constantFrom(false as const, 'oldest' as const),
      },
      { requiredKeys: ['messages'] },
    );
    fc.assert(
      fc.property(request, text, (r, scope) => {
        const req = normalizeRequest(r as CompletionRequest, models);
        expect(cacheKey(req, scope)).toBe(hashOf({ v: 1, scope, messages: req.messages, ...answerParameters(req) }));
        // the semantic partition: the same, with the last message's content (and nothing else) left out
        const promptLeftOut = [...req.messages.slice(0, -1), { ...req.messages[req.messages.length - 1], content: { leftOut: 'prompt' } }];
        expect(keyWithoutPrompt(req, scope)).toBe(hashOf({ v: 1, scope, messages: promptLeftOut, ...answerParameters(req) }));
      }),
      { numRuns: 400 },
    );
  });

  it('contains no prompt text', () => {
    expect(key({ prompt: 'my secret prompt' })).not.toContain('secret');
  });
});
