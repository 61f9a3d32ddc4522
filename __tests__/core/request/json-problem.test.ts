import { jsonProblem, MAX_JSON_DEPTH } from '../../../lib/core/request/json-problem';

const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('jsonProblem', () => {
  it('accepts what JSON can carry, shared (not cyclic) references included', () => {
    const part = { type: 'text', text: 'hi' };
    expect(jsonProblem({ role: 'user', content: 'x' }, '/m')).toBeUndefined();
    expect(jsonProblem({ role: 'user', content: [part, part], name: null, n: 1 }, '/m')).toBeUndefined();
    expect(jsonProblem(nested(MAX_JSON_DEPTH), '/m')).toBeUndefined();
  });

  it('names the path of a cycle, in an object or in an array', () => {
    const part: Record<string, unknown> = { type: 'text' };
    part.self = part;
    expect(jsonProblem({ content: [part] }, '/messages/0')).toBe('/messages/0/content/0/self: refers back to an object that contains it (a cycle)');
    const arr: unknown[] = ['a'];
    arr.push(arr);
    expect(jsonProblem(arr, '/x')).toMatch(/^\/x\/1: .*cycle/);
  });

  it('stops at the depth limit without recursing further (a body nested 100 000 deep)', () => {
    expect(jsonProblem(nested(MAX_JSON_DEPTH + 1), '/m')).toMatch(new RegExp(`nests more than ${MAX_JSON_DEPTH} levels deep$`));
    expect(jsonProblem(nested(100_000), '/m')).toMatch(/nests more than/);
  });

  it('does not list the bytes of a typed array one key at a time', () => {
    const bytes = new Uint8Array(4_000_000);
    const spy = jest.spyOn(Object, 'keys');
    expect(jsonProblem({ content: [{ type: 'bytes', data: bytes }] }, '/m')).toBeUndefined();
    expect(spy.mock.calls.some(([o]) => o === bytes)).toBe(false);
    spy.mockRestore();
  });

  it('names a BigInt, which JSON.stringify would throw on', () => {
    expect(jsonProblem({ content: [{ n: 1n }] }, '/messages', 2)).toBe('/messages/2/content/0/n: is a BigInt, which JSON cannot carry');
  });
});
