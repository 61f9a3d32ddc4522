/**
 * Streams through the cache layer, over real HTTP against the fake provider: semantic hits replayed as streams,
 * single-flight shared by streams and complete() (the call's pieces broadcast to every stream that follows it),
 * leaving and cancelling, interruptions, each participant's own rules, and the shared store's fill lock.
 */
import { randomUUID } from 'node:crypto';
import { createEngine, type LlmEngine, redisStore, RequestAbortedError, StreamInterruptedError } from '../../../lib';
import type { StreamStart } from '../../../lib/core/complete';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { CompletionRequest, EngineOptions, StreamResult } from '../../../lib/types';
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

describe('streams and the semantic cache', () => {
  it('a near-identical prompt is replayed as a stream, marked semantic with its similarity, whichever path filled it', async () => {
    const e = engine({ cache: { semantic: { embeddingModel: 'embed-1', threshold: 0.95 } } });
    const first = e.stream({ messages: [{ role: 'user', content: 'What is the capital of France?' }], temperature: 0 });
    const text = (await read(first)).join('');
    expect(await first.result).toMatchObject({ cached: false, coalesced: false });
    const starts: StreamStart[] = [];
    const again = e.stream({ messages: [{ role: 'user', content: 'what is the capital of france' }], temperature: 0 }, { onStreamStart: (st) => starts.push(st) });
    const pieces = await read(again);
    // told before the first piece (the x-llm-cache header says semantic)
    expect(starts).toEqual([{ model: 'main', fallback: false, cached: 'semantic', attempts: 0 }]);
    const r = await again.result;
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(text);
    expect(r).toMatchObject({ cached: 'semantic', text, attempts: [], firstTokenMs: null, coalesced: false });
    expect(r.similarity).toBeGreaterThanOrEqual(0.95);
    // a complete() answer serves a stream's near-match too, and a stream's a complete()'s
    await e.complete({ messages: [{ role: 'user', content: 'How tall is the Eiffel tower?' }], temperature: 0 });
    const s = e.stream({ messages: [{ role: 'user', content: 'how tall is the eiffel tower' }], temperature: 0 });
    await read(s);
    expect((await s.result).cached).toBe('semantic');
    expect((await e.complete({ messages: [{ role: 'user', content: 'What is the capital of France' }], temperature: 0 })).cached).toBe('semantic');
    expect(fake.requests('p').length).toBe(2);
    expect(e.status().cache).toMatchObject({ semanticHits: 3, semanticSize: 2 });
  });
});

describe('streams in flight together (single-flight)', () => {
  it('two identical streams at once make one upstream call, and both get the whole text', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 15 });
    const e = engine();
    const q = ask();
    const starts: StreamStart[] = [];
    const a = e.stream(q, { onStreamStart: (st) => starts.push(st) });
    const b = e.stream(q, { onStreamStart: (st) => starts.push(st) });
    const [pa, pb] = await Promise.all([read(a), read(b)]);
    // each was told who answers, once, before its first piece
    expect(starts).toEqual([
      { model: 'main', fallback: false, cached: false, attempts: 1 },
      { model: 'main', fallback: false, cached: false, attempts: 1 },
    ]);
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect(pa.join('')).toBe(TEXT);
    expect(pb.join('')).toBe(TEXT);
    expect(fake.requests('p').length).toBe(1);
    expect([ra.coalesced, rb.coalesced].sort()).toEqual([false, true]);
    expect(ra).toMatchObject({ cached: false, model: 'main', text: TEXT, finishReason: 'stop' });
    expect(rb).toMatchObject({ cached: false, model: 'main', text: TEXT, finishReason: 'stop' });
    // the follower's result is its own: changing one changes nothing of the other
    const [leader, follower] = ra.coalesced ? [rb, ra] : [ra, rb];
    follower.attempts[0].latencyMs = -1;
    follower.usage.totalTokens = -1;
    expect(leader.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
    expect(leader.usage.totalTokens).toBeGreaterThan(0);
    // and the answer was cached once, for both paths
    expect((await e.complete(q)).cached).toBe(true);
  });

  it('a stream that joins late gets the pieces made so far, then the rest as they come', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 30 });
    const e = engine();
    const q = ask();
    const a = e.stream(q);
    let late: Promise<string[]> | undefined;
    let bFirstAt = Infinity;
    const pa = await read(a, (got) => {
      if (got.length === 3) late = read(e.stream(q), (g) => void (g.length === 1 && (bFirstAt = performance.now())));
    });
    const aEndedAt = performance.now();
    const pb = await (late as Promise<string[]>);
    expect(pa.join('')).toBe(TEXT);
    expect(pb.join('')).toBe(TEXT);
    // it followed the call as it went: its first piece came long before the call's last one
    expect(bFirstAt).toBeLessThan(aEndedAt);
    expect(fake.requests('p').length).toBe(1);
  });

  it('a stream and a complete() identical at once make one call, whichever comes first', async () => {
    fake.setBehavior('p', { text: TEXT, latencyMs: 50, chunkDelayMs: 10 });
    const e = engine();
    // the stream makes the call; the complete() gets its whole answer
    const q1 = ask();
    const s1 = e.stream(q1);
    const reading = read(s1);
    await waitFor(() => fake.stats('p').pending === 1);
    const c1 = e.complete(q1);
    const [p1, r1] = await Promise.all([reading, c1]);
    expect(p1.join('')).toBe(TEXT);
    expect(r1).toMatchObject({ text: TEXT, cached: false, coalesced: true, model: 'main', finishReason: 'stop' });
    expect(await s1.result).toMatchObject({ coalesced: false, cached: false });
    expect(fake.requests('p').length).toBe(1);
    // the complete() makes the call; the stream replays its whole answer as pieces
    const q2 = ask();
    const c2 = e.complete(q2);
    await waitFor(() => fake.stats('p').pending === 1);
    const s2 = e.stream(q2);
    const [r2, p2] = await Promise.all([c2, read(s2)]);
    expect(r2).toMatchObject({ text: TEXT, coalesced: false });
    expect(p2.length).toBeGreaterThan(1);
    expect(p2.join('')).toBe(TEXT);
    expect(await s2.result).toMatchObject({ text: TEXT, cached: false, coalesced: true, attempts: [expect.objectContaining({ model: 'main', outcome: 'success' })] });
    expect(fake.requests('p').length).toBe(2);
  });

  it('a follower that leaves does not cancel the call; nor does the stream that started it', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 20 });
    const e = engine();
    // the follower leaves
    const q = ask();
    const a = e.stream(q);
    const b = e.stream(q);
    const [pa] = await Promise.all([read(a), read(b, () => true)]);
    expect(pa.join('')).toBe(TEXT);
    await expect(b.result).rejects.toBeInstanceOf(RequestAbortedError);
    expect(await a.result).toMatchObject({ text: TEXT, coalesced: false });
    // the one that started the call leaves
    const q2 = ask();
    const c = e.stream(q2);
    const d = e.stream(q2);
    const [, pd] = await Promise.all([read(c, () => true), read(d)]);
    expect(pd.join('')).toBe(TEXT);
    expect(await d.result).toMatchObject({ text: TEXT, coalesced: true });
    await expect(c.result).rejects.toBeInstanceOf(RequestAbortedError);
    expect(fake.stats('p')).toMatchObject({ requests: 2, aborted: 0, completed: 2 });
    // a follower whose signal fires leaves too, and the call goes on for the other
    const q3 = ask();
    const gone = new AbortController();
    const f = e.stream(q3);
    const g = e.stream({ ...q3, signal: gone.signal });
    const pg = read(g, (got) => void (got.length === 2 && gone.abort())).catch((err: unknown) => err);
    expect((await read(f)).join('')).toBe(TEXT);
    expect(await pg).toBeInstanceOf(RequestAbortedError);
    expect(fake.stats('p')).toMatchObject({ requests: 3, aborted: 0 });
  });

  it('when every participant has left, the upstream request is aborted (not counted against the model)', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 60 });
    const e = engine();
    const q = ask();
    const a = e.stream(q);
    const b = e.stream(q);
    const reading = Promise.all([read(a, () => true), read(b, (got) => got.length === 2)]);
    await waitFor(() => fake.stats('p').pending === 1);
    const c = e.complete(q).catch((err: unknown) => err);
    const leaves = new AbortController();
    await reading;
    await sleep(100);
    expect(fake.stats('p')).toMatchObject({ aborted: 0, pending: 1 }); // the complete() still waits
    const d = e.complete({ ...q, signal: leaves.signal }).catch((err: unknown) => err);
    leaves.abort();
    expect(await d).toBeInstanceOf(RequestAbortedError);
    expect(fake.stats('p')).toMatchObject({ aborted: 0 });
    expect(await c).toMatchObject({ text: TEXT, coalesced: true });
    // now all of them at once
    const q2 = ask();
    const x = e.stream(q2);
    const y = e.stream(q2);
    await Promise.all([read(x, () => true), read(y, () => true)]);
    await waitFor(() => fake.stats('p').aborted === 1);
    expect(fake.stats('p').requests).toBe(2);
    // the stream that made the call says how it ended (its follower made no attempt)
    const errX = (await x.result.catch((er: unknown) => er)) as RequestAbortedError;
    const errY = (await y.result.catch((er: unknown) => er)) as RequestAbortedError;
    expect(errX).toBeInstanceOf(RequestAbortedError);
    expect(errY).toBeInstanceOf(RequestAbortedError);
    await waitFor(() => errX.attempts.length === 1);
    expect(errX.attempts).toEqual([{ model: 'main', outcome: 'cancelled', latencyMs: expect.any(Number), message: 'the caller went away' }]);
    expect(errY.attempts).toEqual([]);
    await sleep(20);
    expect(e.status().models[0]).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('a call interrupted mid-stream ends every participant with StreamInterruptedError and its own deliveredChars', async () => {
    fake.setBehavior('p', { text: TEXT, mode: 'cut', failAfterChunks: 3, chunkDelayMs: 20 });
    const e = engine();
    const q = ask();
    const runs = [e.stream(q), e.stream(q), e.stream(q)].map(async (s) => {
      const got: string[] = [];
      try {
        for await (const p of s) got.push(p);
      } catch (err) {
        return { got: got.join(''), err };
      }
      return { got: got.join(''), err: null };
    });
    const ends = await Promise.all(runs);
    expect(fake.requests('p').length).toBe(1);
    for (const { got, err } of ends) {
      expect(err).toBeInstanceOf(StreamInterruptedError);
      expect((err as StreamInterruptedError).deliveredChars).toBe(got.length);
      expect(got.length).toBeGreaterThan(0);
      expect((err as StreamInterruptedError).attempts[0]).toMatchObject({ model: 'main', outcome: 'error' });
    }
    // nothing was cached
    expect((await e.complete(q)).cached).toBe(false);
  });
});

describe('a participant judges the answer by its own rules', () => {
  it('a stream that followed the pieces and rejects the whole answer ends interrupted; the call stands for the others', async () => {
    fake.setBehavior('p', { text: TEXT, chunkDelayMs: 10 });
    const e = engine();
    const q = ask();
    const a = e.stream(q);
    const picky = e.stream({ ...q, validate: () => false });
    const [pa, pp] = await Promise.all([read(a), read(picky).catch((err: unknown) => err)]);
    expect(pa.join('')).toBe(TEXT);
    expect(pp).toBeInstanceOf(StreamInterruptedError);
    expect((pp as StreamInterruptedError).deliveredChars).toBe(TEXT.length);
    expect((pp as StreamInterruptedError).message).toMatch(/failed this request's own checks/);
    expect(fake.requests('p').length).toBe(1);
    expect((await a.result).text).toBe(TEXT);
  });

  it('a stream that joined a complete() and rejects its answer makes its own call (nothing was delivered yet)', async () => {
    fake.setBehavior('p', { text: TEXT, latencyMs: 100 });
    const e = engine();
    const q = ask();
    const c = e.complete(q);
    let judged = 0;
    // rejects the first answer it sees (the complete()'s), accepts the next (its own call's)
    const picky = e.stream({ ...q, validate: () => ++judged > 1 });
    const [rc, pp] = await Promise.all([c, read(picky)]);
    expect(rc).toMatchObject({ model: 'main', text: TEXT, coalesced: false });
    const r = await picky.result;
    expect(judged).toBe(2);
    expect(r).toMatchObject({ model: 'main', coalesced: false, cached: false, text: TEXT });
    expect(pp.join('')).toBe(TEXT);
    expect(r.attempts.map((x) => [x.model, x.outcome])).toEqual([['main', 'success']]);
    expect(fake.requests('p').length).toBe(2);
  });

  it('a complete() that joined a stream and rejects its answer makes its own call', async () => {
    fake.setBehavior('p', { text: TEXT, latencyMs: 50, chunkDelayMs: 10 });
    const e = engine();
    const q = ask();
    const reading = read(e.stream(q));
    await waitFor(() => fake.stats('p').pending === 1);
    const picky = e.complete({ ...q, validate: (r) => r.model !== 'main' });
    const [ps, rp] = await Promise.all([reading, picky]);
    expect(ps.join('')).toBe(TEXT);
    expect(rp).toMatchObject({ model: 'backup', coalesced: false });
  });
});

describe('the shared store fill lock applies to streams (two engines on Redis)', () => {
  const REDIS = 'redis://127.0.0.1:6379';
  const shared = (prefix: string): Partial<EngineOptions> => ({ cache: { store: redisStore({ url: REDIS, prefix, timeoutMs: 1000 }), ttlMs: 20_000 } });

  it('identical streams in two processes make one upstream call; the other waits for the shared entry and replays it', async () => {
    fake.setBehavior('p', { text: TEXT, latencyMs: 150, chunkDelayMs: 10 });
    const prefix = `klr-stream-${randomUUID()}:`;
    const a = engine(shared(prefix));
    const b = engine(shared(prefix));
    const q = ask();
    const sa = a.stream(q);
    const pa = read(sa);
    await waitFor(() => fake.stats('p').pending === 1);
    const sb = b.stream(q);
    const pb = await read(sb);
    expect((await pa).join('')).toBe(TEXT);
    expect(pb.join('')).toBe(TEXT);
    expect(pb.length).toBeGreaterThan(1);
    expect(fake.requests('p').length).toBe(1);
    const [ra, rb]: StreamResult[] = await Promise.all([sa.result, sb.result]);
    expect(ra).toMatchObject({ cached: false, coalesced: false });
    expect(rb).toMatchObject({ cached: true, attempts: [], text: TEXT });
  });

  it('a stream waits for another process\'s answer no longer than its deadline', async () => {
    fake.setBehavior('p', { mode: 'hang' });
    const prefix = `klr-stream-${randomUUID()}:`;
    const a = engine(shared(prefix));
    const b = engine(shared(prefix));
    const q = ask();
    const holding = new AbortController();
    const holder = read(a.stream({ ...q, signal: holding.signal })).catch((err: unknown) => err);
    await waitFor(() => fake.stats('p').pending === 1);
    const t0 = Date.now();
    const err = await read(b.stream({ ...q, deadlineMs: 200 })).catch((er: unknown) => er);
    const took = Date.now() - t0;
    expect(err).toMatchObject({ code: 'ALL_MODELS_FAILED' });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500); // lockWaitMs is 5000 by default
    expect(fake.stats('p').requests).toBe(1);
    holding.abort();
    expect(await holder).toBeInstanceOf(RequestAbortedError);
  });
});
