import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOptional, OPTIONAL_PACKAGES, type OptionalPackage } from '../../lib/core/load-optional';
import { isMissingPackageError, LlmResilienceError, MissingPackageError } from '../../lib';

const ABSENT: OptionalPackage = { name: 'koa-llm-resilience-absent-package', range: '^1.2.0', neededFor: 'the absent feature' };

describe('loadOptional', () => {
  it('loads an installed package from where the library is', () => {
    const prom = loadOptional<typeof import('prom-client')>(OPTIONAL_PACKAGES.promClient);
    expect(typeof prom.Registry).toBe('function');
    const enc = loadOptional<{ countTokens: (s: string) => number }>(OPTIONAL_PACKAGES.tokenizer, 'gpt-tokenizer/encoding/o200k_base');
    expect(enc.countTokens('hello world')).toBe(2);
  });

  it('names the package, its range, what needs it and the install command when it is not installed', () => {
    let caught: unknown;
    try {
      loadOptional(ABSENT);
    } catch (err) {
      caught = err;
    }
    expect(isMissingPackageError(caught)).toBe(true);
    const err = caught as MissingPackageError;
    expect(err).toBeInstanceOf(LlmResilienceError);
    expect(err).toMatchObject({ code: 'MISSING_PACKAGE', status: 500, expose: false, packageName: ABSENT.name, range: '^1.2.0', neededFor: 'the absent feature' });
    expect(err.message).toContain(`npm install ${ABSENT.name}@'^1.2.0'`);
    expect(err.message).toContain('the absent feature');
    expect((err.cause as { code?: string }).code).toBe('MODULE_NOT_FOUND');
  });

  it('says the same of a file of the package that is not there (an older version without it)', () => {
    expect(() => loadOptional({ ...OPTIONAL_PACKAGES.tokenizer }, 'gpt-tokenizer/encoding/no-such-encoding')).toThrow(MissingPackageError);
    // a package with an `exports` map: ERR_PACKAGE_PATH_NOT_EXPORTED in Node, not found in any loader
    expect(() => loadOptional({ name: '@koa/router', range: '^15.0.0', neededFor: 'x' }, '@koa/router/no-such-file')).toThrow(MissingPackageError);
  });

  it('rethrows as it is a failure inside a package that is there (one of its own dependencies missing)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'klr-broken-'));
    try {
      const file = path.join(dir, 'index.js');
      writeFileSync(file, "require('koa-llm-resilience-missing-inner-dependency');\n");
      let caught: unknown;
      try {
        loadOptional({ name: 'broken', range: '^1.0.0', neededFor: 'x' }, file);
      } catch (err) {
        caught = err;
      }
      expect(isMissingPackageError(caught)).toBe(false);
      expect((caught as { code?: string }).code).toBe('MODULE_NOT_FOUND');
      expect((caught as Error).message).toContain('koa-llm-resilience-missing-inner-dependency');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('knows every optional peer dependency of package.json, with the same range', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    const optional = Object.keys(pkg.peerDependenciesMeta).filter((n) => pkg.peerDependenciesMeta[n].optional).sort();
    expect(Object.values(OPTIONAL_PACKAGES).map((p) => p.name).sort()).toEqual(optional);
    for (const p of Object.values(OPTIONAL_PACKAGES)) expect(pkg.peerDependencies[p.name]).toBe(p.range);
  });
});
