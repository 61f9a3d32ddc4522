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

  it('the last waiter to leave is rejected with how the cancelled work ended (its attempts)', async () => {
    const sf = new SingleFlight<number>();
    const ended = new RequestAbortedError('The request was cancelled', { attempts: [{ model: 'm', outcome: 'cancelled', latencyMs: 3 }] });
    // work that honours its signal, as the chain does: it rejects when the signal fires
    const work = (s: AbortSource) => new Promise<number>((_, reject) => s.addEventListener('abort', () => reject(ended)));
    const c1 = new AbortController();
    const c2 = new AbortController();
    const p1 = sf.run('k', work, c1.signal);
    const p2 = sf.run('k', work, c2.signal);
    c1.abort();
    const first = await p1.catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RequestAbortedError);
    expect((first as RequestAbortedError).attempts).toEqual([]); // somebody else still waits: not its attempts
    c2.abort();
    expect(await p2.catch((e: unknown) => e)).toBe(ended);
  });

  it('the last waiter is not held by work that ignores the signal (a short grace, then a plain abort)', async () => {
    jest.useFakeTimers();
    try {
      const sf = new SingleFlight<number>();
      const d = deferred<number>();
      const c = new AbortController();
      let settled = false;
      const p = sf.run('k', () => d.promise, c.signal).catch((e: unknown) => ((settled = true), e));
      c.abort();
      await jest.advanceTimersByTimeAsync(10);
      expect(settled).toBe(false);
      await jest.advanceTimersByTimeAsync(50);
      expect(settled).toBe(true);
      const err = (await p) as RequestAbortedError;
      expect(err).toBeInstanceOf(RequestAbortedError);
      expect(err.attempts).toEqual([]);
      d.resolve(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('shares a rejection with every waiter', async () => {
    const sf = new SingleFlight<number>();
    const work = () => Promise.reject(new Error('down'));
    await expect(Promise.all([sf.run('k', work), sf.run('k', work)])).rejects.toThrow('down');
  });

  it('with copyForJoiner, every caller that joined gets its own copy, with or without a signal of its own', async () => {
    const sf = new SingleFlight<{ list: number[] }>((v) => ({ list: [...v.list] }));
    const d = deferred<{ list: number[] }>();
    const original = { list: [1] };
    const first = sf.run('k', () => d.promise);
    const plain = sf.run('k', () => d.promise);
    const withSignal = sf.run('k', () => d.promise, new AbortController().signal);
    d.resolve(original);
    const [a, b, c] = await Promise.all([first, plain, withSignal]);
    expect(a).toEqual({ value: original, joined: false });
    expect(a.value).toBe(original);
    for (const joined of [b, c]) {
      expect(joined).toEqual({ value: { list: [1] }, joined: true });
      expect(joined.value).not.toBe(original);
    }
    b.value.list.push(2);
    expect(c.value.list).toEqual([1]);
    expect(original.list).toEqual([1]);
  });
});
