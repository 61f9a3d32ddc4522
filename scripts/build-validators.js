'use strict';
/* global require, module, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * Part of `npm run build`, after tsc: writes each of the library's own schemas (OWN_SCHEMAS) as an ajv standalone
 * validator module into dist/core/validation/, where ownValidator() loads it instead of compiling the schema.
 */
const { writeFileSync } = require('node:fs');
const path = require('node:path');
const Ajv = require('ajv').default;
const standaloneCode = require('ajv/dist/standalone').default;

/** The CommonJS source of a standalone validator for `schema`, compiled with `options`. */
function standaloneSource(schema, options) {
  const ajv = new Ajv({ ...options, code: { ...options.code, source: true } });
  return standaloneCode(ajv, ajv.compile(schema));
}

module.exports = { standaloneSource };

if (require.main === module) {
  const dir = path.join(__dirname, '..', 'dist', 'core', 'validation');
  const { OWN_SCHEMAS } = require(path.join(dir, 'own-validators.js'));
  for (const [name, { schema, ajv }] of Object.entries(OWN_SCHEMAS)) {
    writeFileSync(path.join(dir, `${name}-validator.generated.js`), `${standaloneSource(schema, ajv)}\n`);
  }
}
