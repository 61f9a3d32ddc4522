import { RequestAbortedError } from '../../../lib';
import { SingleFlight } from '../../../lib/core/cache/single-flight';
import type { AbortSource } from '../../../lib/core/signals';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('SingleFlight', () => {
  it('runs identical keys once and tells who joined', async () => {
    const sf = new SingleFlight<number>();
    const d = deferred<number>();
    let runs = 0;
    const work = () => (runs++, d.promise);
    const a = sf.run('k', work);
    const b = sf.run('k', work);
    expect(sf.size).toBe(1);
    d.resolve(42);
    expect(await a).toEqual({ value: 42, joined: false });
    expect(await b).toEqual({ value: 42, joined: true });
    expect(runs).toBe(1);
    expect(sf.size).toBe(0);
  });

  it('aborts the shared work only when the last waiter leaves', async () => {
    const sf = new SingleFlight<number>();
    let signal!: AbortSource;
    const d = deferred<number>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const p1 = sf.run('k', (s) => ((signal = s), d.promise), c1.signal);
    const p2 = sf.run('k', () => d.promise, c2.signal);
    c1.abort();
    await expect(p1).rejects.toBeInstanceOf(RequestAbortedError);
    expect(signal.aborted).toBe(false);
    c2.abort();
    await expect(p2).rejects.toBeInstanceOf(RequestAbortedError);
    expect(signal.aborted).toBe(true);
    d.resolve(1);
  });

  it('shares a rejection with every waiter', async () => {
    const sf = new SingleFlight<number>();
    const work = () => Promise.reject(new Error('down'));
    await expect(Promise.all([sf.run('k', work), sf.run('k', work)])).rejects.toThrow('down');
  });
});
