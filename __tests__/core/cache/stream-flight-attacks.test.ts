/**
 * Streams in flight together (single-flight) under hostile use: a participant joining a flight keeps its own
 * limits, over real HTTP to the fake provider.
 */
import { randomUUID } from 'node:crypto';
import { createEngine, type LlmEngine } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, EngineOptions } from '../../../lib/types';
import { sleep, waitFor } from '../../helpers/app';

let fake: FakeLlm;
const engines: LlmEngine[] = [];
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await fake.close();
});

function engine(extra: Partial<EngineOptions> = {}): LlmEngine {
  const e = createEngine({
    models: [
      { name: 'main', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 3000, firstTokenTimeoutMs: 1000, idleTimeoutMs: 500 },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 3000, firstTokenTimeoutMs: 1000, idleTimeoutMs: 500 },
    ],
    breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
    cache: {},
    ...extra,
  });
  engines.push(e);
  return e;
}
let n = 0;
const ask = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ messages: [{ role: 'user', content: `question ${++n} ${randomUUID()}` }], temperature: 0, ...extra });
const TEXT = 'one two three four five six seven eight nine ten';

/** Reads a stream to its end; `onPiece` may stop it (return true) after a piece. */
async function read(stream: AsyncIterable<string>, onPiece?: (pieces: string[]) => boolean | void): Promise<string[]> {
  const pieces: string[] = [];
  for await (const p of stream) {
    pieces.push(p);
    if (onPiece?.(pieces)) break;
  }
  return pieces;
}

describe('a stream joining a flight keeps its own limits', () => {
  it('a stream asking a shorter deadlineMs does not join a flight with a longer one: it ends at its own deadline, the other gets the whole answer', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 150 });
    const e = engine();
    const q = ask();
    const leader = e.stream(q);
    const follower = e.stream({ ...q, deadlineMs: 300 });
    const t0 = performance.now();
    const [lead, follow] = await Promise.all([
      read(leader),
      read(follower).then(
        () => ({ ended: performance.now() - t0, err: null as unknown }),
        (err: unknown) => ({ ended: performance.now() - t0, err }),
      ),
    ]);
    expect(lead.join('')).toBe(TEXT);
    expect(follow.err).toBeInstanceOf(Error);
    // the whole answer takes about 10 × 150 ms; the follower is gone well before it
    expect(follow.ended).toBeLessThan(1200);
    // flights are keyed by deadlineMs: each stream made its own call, and only the short one was cut
    expect(fake.stats('p').requests).toBe(2);
  });

  it('a follower asking a different maxTokens does not share the call', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 20 });
    const e = engine();
    const q = ask();
    await Promise.all([read(e.stream(q)), read(e.stream({ ...q, maxTokens: 3 }))]);
    expect(fake.stats('p').requests).toBe(2);
  });
});

describe('a hedged stream where both contenders hang', () => {
  it('ends by the first-token timeouts with every upstream request closed, and a caller leaving leaks none', async () => {
    const e = engine({ hedge: { minSamples: 1, afterPercentile: 50, maxExtraLoad: 1 } });
    fake.setBehavior('p', { text: TEXT, latencyMs: 0 });
    // a latency sample for the first model, so it is hedged
    await read(e.stream(ask()));
    fake.setBehavior('p', { mode: 'hang' });
    fake.setBehavior('b', { mode: 'hang' });
    const t0 = performance.now();
    const err = await read(e.stream(ask())).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(Error);
    // firstTokenTimeoutMs is 1000 for each; both hanging ends well before the 3000 ms attempt timeout twice over
    expect(performance.now() - t0).toBeLessThan(4000);
    await waitFor(() => fake.stats().pending === 0, 3000);
    const gone = new AbortController();
    const s = e.stream({ ...ask(), signal: gone.signal });
    const left = read(s).catch((x: unknown) => x);
    await sleep(300);
    gone.abort();
    expect(await left).toBeInstanceOf(Error);
    await waitFor(() => fake.stats().pending === 0, 3000);
  });
});
