/**
 * The validators `npm run build` generates for the library's own schemas (ajv standalone code) judge every input
 * as the schemas compiled at run time do: the same verdict and the same errors, on generated inputs shaped after
 * each schema (mostly valid, with wrong types, out-of-range numbers, unknown and missing keys).
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import fc from 'fast-check';
import { OWN_SCHEMAS, type OwnSchema } from '../../../lib/core/validation/own-validators';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { standaloneSource } = require('../../../scripts/build-validators.js') as { standaloneSource: (schema: object, options: object) => string };

type Schema = Record<string, unknown>;

const odd = fc.oneof(fc.anything({ maxDepth: 1 }), fc.constantFrom(null, -1, 0, 1.5, '', 'x', true, [], {}, 1e9, -0));

/** Values shaped after `schema`: each part mostly of the right kind, sometimes anything. */
function shapedAfter(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const variants: fc.Arbitrary<unknown>[] = [];
  const types = ([] as unknown[]).concat(schema.type ?? []);
  if (Array.isArray(schema.enum)) variants.push(fc.constantFrom(...(schema.enum as unknown[])));
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(schema[key])) variants.push(...(schema[key] as Schema[]).map((s) => shapedAfter(s, depth + 1)));
  }
  if (depth < 6 && (types.includes('object') || schema.properties)) {
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    const model = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, shapedAfter(s, depth + 1)]));
    const required = (schema.required ?? []) as string[];
    variants.push(
      fc
        .tuple(fc.record(model, { requiredKeys: [] }), fc.boolean(), fc.option(fc.constantFrom('unknownOption', 'Models', '__proto__x'), { nil: undefined }))
        .map(([o, withRequired, extra]) => {
          const out: Record<string, unknown> = { ...o };
          if (withRequired) for (const k of required) if (!(k in out) && props[k]) out[k] = 'x';
          if (extra) out[extra] = 1;
          return out;
        }),
    );
  }
  if (depth < 6 && types.includes('array')) variants.push(fc.array(schema.items ? shapedAfter(schema.items as Schema, depth + 1) : odd, { maxLength: 3 }));
  if (types.includes('string')) variants.push(fc.string({ maxLength: 5 }));
  if (types.includes('integer') || types.includes('number')) {
    const min = typeof schema.minimum === 'number' ? schema.minimum : -10;
    const max = typeof schema.maximum === 'number' ? schema.maximum : min + 1000;
    variants.push(fc.integer({ min: Math.max(-(2 ** 31), min - 2), max: Math.min(2 ** 31, max + 2) }), fc.double({ noNaN: false }));
  }
  if (types.includes('boolean')) variants.push(fc.boolean());
  if (variants.length === 0) variants.push(odd);
  return fc.oneof({ arbitrary: fc.oneof(...variants), weight: 12 }, { arbitrary: odd, weight: 1 });
}

function loadStandalone(source: string): ValidateFunction {
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', source)(module, module.exports, require);
  return module.exports as ValidateFunction;
}

const errorsOf = (fn: ValidateFunction): Partial<ErrorObject>[] =>
  (fn.errors ?? []).map(({ instancePath, keyword, params, message, schemaPath }) => ({ instancePath, keyword, params, message, schemaPath }));

describe.each(Object.keys(OWN_SCHEMAS) as OwnSchema[])('the generated %s validator', (name) => {
  const { schema, ajv } = OWN_SCHEMAS[name];
  const compiled = new Ajv(ajv).compile(schema);
  const generated = loadStandalone(standaloneSource(schema, ajv));

  it('gives the verdict and the errors of the compiled schema', () => {
    let valid = 0;
    fc.assert(
      fc.property(shapedAfter(schema as Schema), (input) => {
        const expected = compiled(input);
        const got = generated(input);
        if (got) valid++;
        expect(got).toBe(expected);
        expect(errorsOf(generated)).toEqual(errorsOf(compiled));
      }),
      { numRuns: 1500 },
    );
    // Both verdicts were explored, not only rejections.
    expect(valid).toBeGreaterThan(0);
  });
});
