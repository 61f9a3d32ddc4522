import { cacheKey } from '../../../lib/core/cache/cache-key';
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
  ])('changes with %s', (_l, changed) => {
    expect(key(changed)).not.toBe(key(base));
  });

  it('changes with the tenant scope', () => {
    expect(key(base, 'tenant-a')).not.toBe(key(base, 'tenant-b'));
  });

  it('contains no prompt text', () => {
    expect(key({ prompt: 'my secret prompt' })).not.toContain('secret');
  });
});
