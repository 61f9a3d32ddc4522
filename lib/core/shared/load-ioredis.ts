import { MissingPackageError } from '../../errors/missing-package-error';
import { OPTIONAL_PACKAGES } from '../load-optional';

/**
 * ioredis, loaded when the first `redisStore()` is made, not by `require('koa-llm-resilience')`: loading it takes
 * about 90 ms, which an app that never uses a shared store would otherwise pay at every start, and an app that
 * does not use one need not install it. Missing, it is a `MissingPackageError` (as for every optional package)
 * that names the package and the install command.
 * (`load`: how a module is loaded; a test passes its own.)
 */
export function loadIoredis(load: (id: string) => unknown = require): typeof import('ioredis') {
  try {
    return load('ioredis') as typeof import('ioredis');
  } catch (err) {
    if (isMissing(err, 'ioredis')) {
      const pkg = OPTIONAL_PACKAGES.ioredis;
      throw new MissingPackageError(pkg.name, pkg.range, pkg.neededFor, { cause: err });
    }
    throw err;
  }
}

/** Whether `err` says that the module `id` itself (not one of its own dependencies) cannot be found. */
function isMissing(err: unknown, id: string): boolean {
  if (!(err instanceof Error) || (err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') return false;
  const firstLine = err.message.split('\n', 1)[0];
  return firstLine.includes(`'${id}'`);
}
