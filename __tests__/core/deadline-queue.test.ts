import { type DeadlineEntry, DeadlineQueue } from '../../lib/core/deadline-queue';

/** An entry that notes when it was called, and how early or late against its own deadline. */
function entry(name: string, calls: { name: string; lateMs: number }[]): DeadlineEntry {
  const e: DeadlineEntry = {
    deadlineSlot: -1,
    deadlineAt: 0,
    onDeadline: () => calls.push({ name, lateMs: performance.now() - e.deadlineAt }),
  };
  return e;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds (at most 2 s: a busy CI machine can run timers late), then a little more. */
async function until(done: () => boolean): Promise<void> {
  const end = Date.now() + 2000;
  while (!done() && Date.now() < end) await sleep(5);
  await sleep(20); // anything called too many times would show now
}

describe('DeadlineQueue', () => {
  let q: DeadlineQueue;
  beforeEach(() => {
    q = new DeadlineQueue();
  });
  afterEach(() => q.close());

  it('calls each entry once, in deadline order, never before its deadline', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    // added out of order: the heap, not the order of adding, decides
    q.add(entry('c', calls), 60);
    q.add(entry('a', calls), 20);
    q.add(entry('d', calls), 80);
    q.add(entry('b', calls), 40);
    await until(() => calls.length >= 4);
    expect(calls.map((c) => c.name)).toEqual(['a', 'b', 'c', 'd']);
    for (const c of calls) {
      expect(c.lateMs).toBeGreaterThanOrEqual(0);
      expect(c.lateMs).toBeLessThan(1500); // a wide margin for a busy machine: what this test is about is order and never early
    }
    expect(q.size).toBe(0);
  });

  it('never calls an entry removed before its deadline, and keeps the others', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    const entries = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => entry(n, calls));
    entries.forEach((e, i) => q.add(e, 20 + i * 5));
    q.remove(entries[0]); // the earliest: the timer armed for it finds nothing due and is armed again
    q.remove(entries[3]);
    q.remove(entries[3]); // twice is a no-op
    expect(entries[0].deadlineSlot).toBe(-1);
    expect(q.size).toBe(4);
    await until(() => calls.length >= 4);
    expect(calls.map((c) => c.name)).toEqual(['b', 'c', 'e', 'f']);
  });

  it('keeps heap order through many adds and removals', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    const entries = Array.from({ length: 200 }, (_, i) => entry(String(i), calls));
    // deadlines 10..70 ms in a scrambled order
    entries.forEach((e, i) => q.add(e, 10 + ((i * 37) % 200) * 0.3));
    for (let i = 0; i < 200; i += 3) q.remove(entries[i]);
    await until(() => calls.length >= 133);
    const expected = entries
      .map((e, i) => ({ name: String(i), at: e.deadlineAt }))
      .filter((_, i) => i % 3 !== 0)
      .sort((x, y) => x.at - y.at)
      .map((x) => x.name);
    expect(calls.map((c) => c.name)).toEqual(expected);
    for (const c of calls) expect(c.lateMs).toBeGreaterThanOrEqual(0);
  });

  it('sets one Node timer for many entries of the same duration, not one each', () => {
    const spy = jest.spyOn(global, 'setTimeout');
    const clear = jest.spyOn(global, 'clearTimeout');
    try {
      const entries = Array.from({ length: 100 }, () => entry('x', []));
      for (const e of entries) {
        q.add(e, 5_000);
        q.remove(e); // an attempt that answered
      }
      for (const e of entries) q.add(e, 5_000);
      for (const e of entries) q.remove(e);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(clear).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      clear.mockRestore();
    }
  });

  it('arms earlier when an earlier deadline arrives', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    q.add(entry('late', calls), 5_000);
    q.add(entry('soon', calls), 20);
    await until(() => calls.length >= 1);
    expect(calls.map((c) => c.name)).toEqual(['soon']);
  });

  it('an entry that throws does not keep the others from being called', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    q.add({ deadlineSlot: -1, deadlineAt: 0, onDeadline: () => { throw new Error('boom'); } }, 10);
    q.add(entry('after', calls), 10);
    await until(() => calls.length >= 1);
    expect(calls.map((c) => c.name)).toEqual(['after']);
  });

  it('after close(), entries still queued are still called, and the timer ends with the last of them', async () => {
    const calls: { name: string; lateMs: number }[] = [];
    const b = entry('b', calls);
    q.add(entry('a', calls), 20);
    q.add(b, 5_000);
    q.close();
    await until(() => calls.length >= 1);
    expect(calls.map((c) => c.name)).toEqual(['a']);
    const clear = jest.spyOn(global, 'clearTimeout');
    try {
      // the last entry leaves: the closed queue ends its timer at once (not 5 s later)
      q.remove(b);
      expect(q.size).toBe(0);
      expect(clear).toHaveBeenCalledTimes(1);
    } finally {
      clear.mockRestore();
    }
    expect(calls.map((c) => c.name)).toEqual(['a']);
  });
});
