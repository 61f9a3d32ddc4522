/**
 * ioredis is loaded by the first `redisStore()`, not by `require('koa-llm-resilience')`; an app without it gets a
 * MissingPackageError that says what to install. The missing package is simulated by a module-resolution hook in a child
 * process (ioredis itself is not touched).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { MissingPackageError, redisStore } from '../../../lib';
import { loadIoredis } from '../../../lib/core/shared/load-ioredis';

function missing(id: string): Error {
  return Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /app/index.js`), { code: 'MODULE_NOT_FOUND' });
}

describe('loading ioredis', () => {
  it('in an app where ioredis is not installed, the library loads and redisStore() names the package to install', () => {
    const root = path.join(__dirname, '..', '..', '..');
    const script = `
      const Module = require('module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'ioredis' || request.startsWith('ioredis/')) {
          throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
        }
        return resolve.call(this, request, ...rest);
      };
      const lib = require('./lib');
      const out = { loaded: true };
      try {
        lib.redisStore({ url: 'redis://127.0.0.1:6379' });
        out.threw = false;
      } catch (err) {
        Object.assign(out, { threw: true, code: err.code, isMissingPackage: lib.isMissingPackageError(err), message: err.message });
      }
      console.log(JSON.stringify(out));
    `;
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const seen = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(seen).toMatchObject({ loaded: true, threw: true, code: 'MISSING_PACKAGE', isMissingPackage: true });
    expect(seen.message).toContain('ioredis');
    expect(seen.message).toContain('npm install ioredis');
  });

  it('a loader that cannot find ioredis gives the MissingPackageError; any other failure is thrown as it is', () => {
    const err = (() => {
      try {
        loadIoredis(() => {
          throw missing('ioredis');
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(MissingPackageError);
    expect(err).toMatchObject({ code: 'MISSING_PACKAGE', packageName: 'ioredis', message: expect.stringContaining('npm install ioredis') });
    // one of ioredis's own dependencies missing is not "install ioredis"
    const dependency = missing('denque');
    expect(() =>
      loadIoredis(() => {
        throw dependency;
      }),
    ).toThrow(dependency);
    const broken = new SyntaxError('Unexpected token');
    expect(() =>
      loadIoredis(() => {
        throw broken;
      }),
    ).toThrow(broken);
    const module = { Redis: class {} };
    expect(loadIoredis(() => module)).toBe(module);
  });
});

describe('redisStore options', () => {
  it('refuses a timeoutMs that is not a whole number of ms from 1 to 60000 (it bounds every request\'s wait on Redis), naming it', () => {
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, 60_001, 2 ** 31]) {
      expect(() => redisStore({ url: 'redis://127.0.0.1:6379', timeoutMs })).toThrow(/\/store\/timeoutMs: must be a positive integer of at most 60000/);
    }
  });
});
