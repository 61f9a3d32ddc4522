/**
 * A store given as `cache.store` or `shared` must have every method the library calls: one that lacks any is
 * refused at start-up with a ConfigError naming the option and the methods, not a rejection at its first use.
 */
import { ConfigError, createEngine } from '../../../lib';
import { STORE_METHODS } from '../../../lib/core/shared/shared-store';
import { memoryProvider } from '../../../lib/testing';

const models = [{ name: 'm', model: 'm', provider: memoryProvider() }];

/** A store with every method, none of which is ever called here. */
function store(): Record<string, unknown> {
  const s: Record<string, unknown> = { prefix: 't:' };
  for (const m of STORE_METHODS) s[m] = () => Promise.resolve(null);
  return s;
}

function problems(build: () => unknown): readonly { path: string; message: string }[] {
  try {
    build();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('no ConfigError');
}

describe('a shared store lacking a method', () => {
  it.each(STORE_METHODS.map((m) => [m]))('without %s() is refused at start-up, as cache.store and as shared, naming the method', (method) => {
    const partial = store();
    delete partial[method];
    const found = problems(() => createEngine({ models, cache: { store: partial as never }, shared: partial as never }));
    expect(found).toEqual([
      { path: '/shared', message: expect.stringContaining(`lacks ${method}()`) },
      { path: '/cache/store', message: expect.stringContaining(`lacks ${method}()`) },
    ]);
  });

  it('names every method it lacks, and a prefix that is not a string', () => {
    const partial = store();
    delete partial.scan;
    delete partial.publish;
    expect(problems(() => createEngine({ models, shared: partial as never }))[0].message).toMatch(/lacks publish\(\), scan\(\)|lacks scan\(\), publish\(\)/);
    expect(problems(() => createEngine({ models, shared: { ...store(), prefix: 1 } as never }))[0].message).toMatch(/prefix is not a string/);
  });

  it('a store with every method is accepted', async () => {
    const e = createEngine({ models, cache: false, shared: store() as never });
    await e.close();
  });
});
