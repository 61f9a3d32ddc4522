import { compileSchema } from '../../../lib/core/validation/answer-check';
import { RequestError } from '../../../lib/errors/request-error';

/** A schema as a route handler writes it inline: a new object on every request. */
const inline = () => ({ type: 'object', properties: { title: { type: 'string' } }, required: ['title'] });

describe('compileSchema', () => {
  it('compiles a schema written inline once: a new object with the same content gets the same validator', () => {
    const first = compileSchema(inline());
    expect(compileSchema(inline())).toBe(first);
    expect(compileSchema({ required: ['title'], properties: { title: { type: 'string' } }, type: 'object' })).toBe(first);
    expect(first({ title: 'x' })).toBe(true);
    expect(first({})).toBe(false);
  });

  it('gives another validator for other content', () => {
    const other = compileSchema({ type: 'object', required: ['summary'] });
    expect(other).not.toBe(compileSchema(inline()));
    expect(other({ title: 'x' })).toBe(false);
  });

  it('accepts a schema with an $id on every request, not only the first', () => {
    for (let i = 0; i < 3; i++) {
      const fn = compileSchema({ $id: 'https://example.com/answer.json', type: 'object', required: ['a'] });
      expect(fn({ a: 1 })).toBe(true);
    }
    // the same $id with other content is another schema, not a clash
    expect(compileSchema({ $id: 'https://example.com/answer.json', type: 'object', required: ['b'] })({ a: 1 })).toBe(false);
  });

  it('reads a schema by the dialect it declares: draft 2020-12 (zod 4\'s toJSONSchema), 2019-09, draft-07 or none; another $schema as draft-07', () => {
    const tuple = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false };
    const fn2020 = compileSchema(tuple);
    expect(fn2020(['a', 1])).toBe(true);
    expect(fn2020([1, 'a'])).toBe(false); // prefixItems is 2020-12's: checked, not ignored
    expect(fn2020(['a', 1, 2])).toBe(false);
    const fn2019 = compileSchema({ $schema: 'https://json-schema.org/draft/2019-09/schema', type: 'object', required: ['a'], unevaluatedProperties: false, properties: { a: {} } });
    expect(fn2019({ a: 1 })).toBe(true);
    expect(fn2019({ a: 1, b: 2 })).toBe(false);
    expect(compileSchema({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'string' })('x')).toBe(true);
    const old = compileSchema({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', required: ['a'] });
    expect(old({ a: 1 })).toBe(true);
    expect(old({})).toBe(false);
  });

  it('turns a schema ajv cannot compile into a RequestError, every time', () => {
    for (let i = 0; i < 2; i++) expect(() => compileSchema({ type: 'no-such-type' })).toThrow(RequestError);
  });

  it('turns a cyclic schema object (a direct caller’s mistake) into a RequestError, not a crash', () => {
    const cyclic: Record<string, unknown> = { type: 'object' };
    cyclic.properties = { self: cyclic };
    expect(() => compileSchema(cyclic)).toThrow(RequestError);
  });
});
