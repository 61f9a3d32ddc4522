import { AbortLatch, anyAborted, linkSignals, unlessAborted } from '../../lib/core/signals';

describe('AbortLatch', () => {
  it('calls each listener once, with the latch as `this`, and forgets removed ones', () => {
    const latch = new AbortLatch();
    const calls: string[] = [];
    const a = function (this: unknown) {
      calls.push(this === latch ? 'a' : 'a-wrong-this');
    };
    const b = () => calls.push('b');
    latch.addEventListener('abort', a);
    latch.addEventListener('abort', b);
    latch.removeEventListener('abort', b);
    expect(latch.aborted).toBe(false);
    latch.abort();
    latch.abort();
    expect(calls).toEqual(['a']);
    expect(latch.aborted).toBe(true);
    expect((latch.reason as DOMException).name).toBe('AbortError');
    latch.addEventListener('abort', b); // after the fact: never called, as with an AbortSignal
    latch.abort();
    expect(calls).toEqual(['a']);
  });

  it('a throwing listener does not keep the others from hearing the abort', () => {
    const latch = new AbortLatch();
    const heard: number[] = [];
    latch.addEventListener('abort', () => {
      throw new Error('boom');
    });
    latch.addEventListener('abort', () => heard.push(1));
    expect(() => latch.abort()).not.toThrow();
    expect(heard).toEqual([1]);
  });

  it('takes listener objects (handleEvent), as an AbortSignal does, and removes them by identity', () => {
    const heard: string[] = [];
    const listener = { handleEvent: () => heard.push('object') };
    const other = { handleEvent: () => heard.push('removed') };
    const latch = new AbortLatch();
    latch.addEventListener('abort', listener);
    latch.addEventListener('abort', other);
    latch.removeEventListener('abort', other);
    latch.abort();
    const controller = new AbortController();
    controller.signal.addEventListener('abort', listener);
    controller.abort();
    expect(heard).toEqual(['object', 'object']);
  });
});

describe('linkSignals', () => {
  it('fires the target from any source (AbortSignal or latch) and unlinks cleanly', () => {
    const target = new AbortLatch();
    const controller = new AbortController();
    const source = new AbortLatch();
    const unlink = linkSignals(target, [undefined, controller.signal, source]);
    source.abort();
    expect(target.aborted).toBe(true);

    const target2 = new AbortLatch();
    const source2 = new AbortLatch();
    const unlink2 = linkSignals(target2, [source2]);
    unlink2();
    source2.abort();
    expect(target2.aborted).toBe(false);
    unlink();
  });

  it('fires at once when a source has already fired', () => {
    const controller = new AbortController();
    controller.abort();
    const target = new AbortLatch();
    linkSignals(target, [controller.signal]);
    expect(target.aborted).toBe(true);
    expect(anyAborted([undefined, controller.signal])).toBe(true);
    expect(anyAborted([undefined, new AbortLatch()])).toBe(false);
  });
});

describe('unlessAborted', () => {
  it('settles as the work does, and stops listening once it has', async () => {
    const latch = new AbortLatch();
    await expect(unlessAborted(Promise.resolve(7), latch)).resolves.toBe(7);
    await expect(unlessAborted(Promise.reject(new Error('bad')), latch)).rejects.toThrow('bad');
    latch.abort(); // nobody listens any more: nothing to reject
  });

  it('rejects with the abort reason as soon as the source aborts, whatever the work does', async () => {
    const latch = new AbortLatch();
    const pending = unlessAborted(new Promise<number>(() => undefined), latch);
    latch.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(unlessAborted(Promise.resolve(1), latch)).rejects.toMatchObject({ name: 'AbortError' }); // already aborted
  });
});
