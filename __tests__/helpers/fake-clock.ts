/**
 * jest's modern fake timers for tests of the engine with in-memory providers: `setTimeout`, `setInterval`,
 * `setImmediate`, `Date` and `performance.now()` are all fake, so attempt timeouts, cool-downs, breaker resets,
 * hedges and latencies happen at exact fake times. `process.nextTick` and `queueMicrotask` stay real: nothing in
 * the engine is timed by them, and faking them would hold promise plumbing back until the clock moves.
 *
 * A module that reads `performance` once when it is loaded keeps the object it saw then (lru-cache does, for its
 * TTLs): load the library after `useFakeClock()` when such a module must follow the fake clock.
 */
export function useFakeClock(): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
}

/**
 * What a zero-delay hop costs on the fake clock. @sinonjs/fake-timers (under jest's modern timers) schedules a
 * `setTimeout(fn, 0)` or `setImmediate(fn)` made while it is firing timers 1 ms later, not in the same instant
 * (so that a timer re-arming itself at 0 cannot loop for ever). The engine defers a due timeout's abort by one
 * `setImmediate` (to read that turn's sockets first), and an in-memory provider answers after a `setTimeout(0)`:
 * each such hop shows as 1 fake ms. Exact fake times are therefore asserted within a few of these.
 */
export const ZERO_DELAY_HOP_MS = 1;

/** `actual` is `expected` fake ms, give or take `hops` zero-delay hops late (never early). */
export function expectFakeMs(actual: number, expected: number, hops = 2): void {
  expect(actual).toBeGreaterThanOrEqual(expected);
  expect(actual).toBeLessThanOrEqual(expected + hops * ZERO_DELAY_HOP_MS);
}

/**
 * Moves the fake clock from timer to timer until `promise` settles, then returns (or throws) what it settled
 * with. Jumping to the next timer never overshoots: the promise settles at the fake time it would have in real
 * life. Fails when it has not settled after `maxMs` of fake time, or when no timer is left to wait for.
 */
export async function drive<T>(promise: Promise<T>, maxMs = 120_000): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  const start = Date.now();
  await jest.advanceTimersByTimeAsync(0);
  while (!settled) {
    if (Date.now() - start > maxMs) throw new Error(`did not settle within ${maxMs} ms of fake time`);
    if (jest.getTimerCount() === 0) throw new Error('did not settle, and no timer is left to advance to');
    await jest.advanceTimersToNextTimerAsync();
  }
  return promise;
}

/** Collects everything an async iterable yields, as `drive` does for a promise. */
export function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  return (async () => {
    const out: T[] = [];
    for await (const x of iterable) out.push(x);
    return out;
  })();
}

/** Settles `promise` to a value or the error it rejected with (for asserting both in one place). */
export function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}
