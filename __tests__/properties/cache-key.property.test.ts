import fc from 'fast-check';
import { cacheKey } from '../../lib/core/cache/cache-key';
import { resolveOptions } from '../../lib/core/options/resolve-options';
import { normalizeRequest } from '../../lib/core/request/normalize-request';
import type { CompletionRequest } from '../../lib/types';

const { models } = resolveOptions({ models: [{ name: 'a', model: 'ma', apiKey: 'k' }, { name: 'b', model: 'mb', apiKey: 'k' }] });
const key = (r: CompletionRequest, scope = '') => cacheKey(normalizeRequest(r, models), scope);

/** The same object with its keys (deeply) in another order. */
function reorder<T>(value: T, seed: number): T {
  if (Array.isArray(value)) return value.map((v) => reorder(v, seed)) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const rotated = entries.map((_, i) => entries[(i + seed) % entries.length]).reverse();
  return Object.fromEntries(rotated.map(([k, v]) => [k, reorder(v, seed + 1)])) as T;
}

const requestArb = fc.record(
  {
    messages: fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: fc.string({ maxLength: 20 }) }), { minLength: 1, maxLength: 3 }),
    maxTokens: fc.integer({ min: 1, max: 100 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    topP: fc.double({ min: 0, max: 1, noNaN: true }),
    stop: fc.array(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
    seed: fc.integer(),
    responseFormat: fc.constantFrom({ type: 'text' as const }, { type: 'json_object' as const }),
    models: fc.constantFrom(['a'], ['b'], ['a', 'b'], ['b', 'a']),
  },
  { requiredKeys: ['messages'] },
) as fc.Arbitrary<CompletionRequest>;

describe('cache key properties', () => {
  it('ignores JSON key order', () => {
    fc.assert(fc.property(requestArb, fc.nat(10), (r, seed) => expect(key(reorder(r, seed))).toBe(key(r))), { numRuns: 300 });
  });

  it('ignores timeoutMs and cache flags', () => {
    fc.assert(fc.property(requestArb, fc.integer({ min: 1, max: 9999 }), (r, t) => expect(key({ ...r, timeoutMs: t })).toBe(key(r))), { numRuns: 100 });
  });

  const changes: [string, (r: CompletionRequest) => CompletionRequest][] = [
    ['message text', (r) => ({ ...r, messages: [...r.messages!, { role: 'user', content: 'more' }] })],
    ['maxTokens', (r) => ({ ...r, maxTokens: (r.maxTokens ?? 0) + 1 })],
    ['temperature', (r) => ({ ...r, temperature: r.temperature === undefined ? 1 : r.temperature === 0.5 ? 0.25 : 0.5 })],
    ['topP', (r) => ({ ...r, topP: r.topP === undefined ? 1 : r.topP === 0.5 ? 0.25 : 0.5 })],
    ['stop', (r) => ({ ...r, stop: r.stop === undefined ? 'Z' : undefined })],
    ['seed', (r) => ({ ...r, seed: (r.seed ?? 0) + 1 })],
    ['responseFormat', (r) => ({ ...r, responseFormat: r.responseFormat?.type === 'json_object' ? { type: 'text' } : { type: 'json_object' } })],
    ['chain', (r) => ({ ...r, models: r.models?.length === 1 && r.models[0] === 'a' ? ['b'] : ['a'] })],
  ];
  it.each(changes)('changes with %s', (_name, change) => {
    fc.assert(fc.property(requestArb, (r) => expect(key(change(r))).not.toBe(key(r))), { numRuns: 200 });
  });

  it('changes with the scope', () => {
    fc.assert(fc.property(requestArb, fc.string(), fc.string(), (r, s1, s2) => {
      fc.pre(s1 !== s2);
      expect(key(r, s1)).not.toBe(key(r, s2));
    }), { numRuns: 200 });
  });
});
