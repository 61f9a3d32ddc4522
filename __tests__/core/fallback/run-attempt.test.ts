import { startUpstream, type RemoteUpstream } from '../../../bench/lib/upstream';
import { createEngine } from '../../../lib';

/**
 * The provider runs in another process here: while this process is stalled (as in a long GC pause), the
 * answer is already on its way into the socket, which is exactly the case the abort's grace turn is for.
 */
let up: RemoteUpstream;
beforeAll(async () => {
  up = await startUpstream({ p: { latencyMs: 10 }, b: { latencyMs: 10 } });
}, 30_000);
afterAll(() => up.close());

function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a busy event loop: no timer, no I/O callback runs meanwhile
  }
}

/** The primary times out after 150 ms (fixed); the backup has 1 s. */
const engineWithShortTimeout = () =>
  createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: up.url, apiKey: 'k', timeoutMs: 150 },
      { name: 'backup', model: 'b', baseURL: up.url, apiKey: 'k', timeoutMs: 1000 },
    ],
    cache: false,
    adaptiveTimeout: false,
  });

describe('attempt timeouts', () => {
  it('a timer made late by a stalled event loop does not cancel an answer that arrived in time', async () => {
    const engine = engineWithShortTimeout();
    await engine.complete({ prompt: 'warm the connection' });
    up.resetRequests();
    const pending = engine.complete({ prompt: 'answered during the stall' });
    // wait (without blocking) until the provider has the request, then stall well past the 150 ms timeout:
    // the provider answers ~10 ms in, so the answer waits in the socket while the timer becomes overdue
    while ((await up.stats()).byModel.p?.requests !== 1) await new Promise((r) => setTimeout(r, 1));
    stall(500);
    const r = await pending;
    expect(r.attempts).toEqual([expect.objectContaining({ model: 'primary', outcome: 'success' })]);
    const stats = await up.stats();
    expect(stats.byModel.p).toMatchObject({ requests: 1, aborted: 0 });
    expect(stats.byModel.b?.requests ?? 0).toBe(0);
    await engine.close();
  });

  it('still cancels, within one loop turn, an answer that is really late', async () => {
    up.setBehavior('p', { latencyMs: 2000 });
    const engine = engineWithShortTimeout();
    const t0 = performance.now();
    const r = await engine.complete({ prompt: 'slow' });
    expect(r.model).toBe('backup');
    expect(r.attempts[0]).toMatchObject({ model: 'primary', outcome: 'timeout' });
    expect(r.attempts[0].latencyMs).toBeLessThan(150 + 150); // generous margin for a loaded CI machine
    expect(performance.now() - t0).toBeLessThan(1500);
    await engine.close();
  });
});
