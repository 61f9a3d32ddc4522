import type Ajv from 'ajv';
import type { Options } from 'ajv';

/**
 * A new ajv instance, ajv being loaded on the first call: `require('koa-llm-resilience')` loads no validator and
 * compiles no schema (together about 70 ms); each schema is compiled once, when the first middleware is made.
 */
export function newAjv(options: Options): Ajv {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { default: AjvClass } = require('ajv') as typeof import('ajv');
  return new AjvClass(options);
}
