import type { Options, ValidateFunction } from 'ajv';
import { optionsSchema } from '../options/options-schema';
import { requestSchema } from '../request/request-schema';
import { newAjv } from './new-ajv';

/**
 * The library's own JSON Schemas (options, requests), each with the ajv options it is compiled with. `npm run build`
 * turns each into a standalone validator module (ajv's generated code, `<name>-validator.generated.js` beside this
 * file in dist/): the package then neither loads ajv's compiler nor compiles them at start-up (about 120 ms).
 * Run from the sources (tests, ts-node), where no generated module exists, they are compiled on first use.
 */
export const OWN_SCHEMAS = {
  options: { schema: optionsSchema, ajv: { allErrors: true, strict: true } },
  request: { schema: requestSchema, ajv: { allErrors: true, strict: false } },
} as const satisfies Record<string, { schema: object; ajv: Options }>;

export type OwnSchema = keyof typeof OWN_SCHEMAS;

const validators = new Map<OwnSchema, ValidateFunction>();

/** The validator of one of the library's own schemas: built into the package, or compiled once for the process. */
export function ownValidator(name: OwnSchema): ValidateFunction {
  let fn = validators.get(name);
  if (!fn) {
    fn = generated(name) ?? newAjv(OWN_SCHEMAS[name].ajv).compile(OWN_SCHEMAS[name].schema);
    validators.set(name, fn);
  }
  return fn;
}

function generated(name: OwnSchema): ValidateFunction | null {
  const file = `./${name}-validator.generated`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as ValidateFunction;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.split('\n', 1)[0].includes(`'${file}'`)) return null;
    throw err;
  }
}
