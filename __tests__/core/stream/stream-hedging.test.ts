/**
 * Hedged streams over real HTTP: a model slow to its first content token is hedged with the next model (the hedge
 * percentile of its time to first token); the first to send a content token is streamed and the other is cancelled,
 * its upstream request aborted. Once a stream has started it is never hedged.
 */
import { createEngine, type LlmEngine } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { HedgeOptions, ModelConfig, StreamResult } from '../../../lib/types';
import { waitFor } from '../../helpers/app';

let fake: FakeLlm;
let engine: LlmEngine | undefined;
beforeEach(async () => {
  fake = await startFakeLlm();
});
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  await fake.close();
});

const HEDGE: HedgeOptions = { afterPercentile: 50, maxExtraLoad: 1, minSamples: 5 };
const m = (name: string, model: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({
  name,
  model,
  baseURL: fake.url,
  apiKey: 'k',
  timeoutMs: 5000,
  firstTokenTimeoutMs: 4000,
  idleTimeoutMs: 2000,
  ...extra,
});
let n = 0;
const ask = () => ({ messages: [{ role: 'user' as const, content: `tell me a story number ${++n}` }] });

async function run(e: LlmEngine): Promise<{ text: string; result: StreamResult }> {
  const s = e.stream(ask());
  let text = '';
  for await (const d of s) text += d;
  return { text, result: await s.result };
}

/** An engine whose first model has streamed `samples` answers, each with its first token after about `latencyMs`. */
async function warmed(hedge: HedgeOptions | false, samples = 5, latencyMs = 30): Promise<{ engine: LlmEngine; hedges: string[] }> {
  fake.setBehavior('big', { latencyMs, chunkDelayMs: 1 });
  fake.setBehavior('small', { latencyMs: 20, chunkDelayMs: 1 });
  engine = createEngine({ models: [m('smart', 'big'), m('fast', 'small')], cache: false, hedge });
  const hedges: string[] = [];
  engine.on('hedge', (h) => hedges.push(`${h.from}->${h.to}`));
  for (let i = 0; i < samples; i++) await run(engine);
  fake.resetRequests();
  return { engine, hedges };
}

describe('hedged streams', () => {
  it('a model slow to its first token is hedged with the next; the first content token wins and the loser is aborted upstream', async () => {
    const { engine: e, hedges } = await warmed(HEDGE);
    fake.setBehavior('big', { latencyMs: 1500 });
    const t0 = performance.now();
    const { text, result } = await run(e);
    expect(performance.now() - t0).toBeLessThan(1200);
    expect(text).toMatch(/^small answer: tell me a story/);
    expect(result).toMatchObject({ model: 'fast', fallback: true, resumed: false, text });
    expect(result.attempts).toEqual([
      expect.objectContaining({ model: 'smart', outcome: 'cancelled', message: 'another model answered first' }),
      expect.objectContaining({ model: 'fast', outcome: 'success', hedged: true }),
    ]);
    expect(result.attempts[0].hedged).toBeUndefined();
    expect(hedges).toEqual(['smart->fast']);
    // one upstream call each, and the loser's was cut off before it answered
    expect(fake.requests('big').length).toBe(1);
    expect(fake.requests('small').length).toBe(1);
    await waitFor(() => fake.stats('big').aborted === 1);
    // both calls leave the bulkhead, and a lost race is no failure of the model
    await waitFor(() => e.status().models.every((s) => s.inFlight === 0));
    expect(e.status().models.map((s) => [s.name, s.failures])).toEqual([
      ['smart', 0],
      ['fast', 0],
    ]);
  });

  it('when the slow model still sends its first token first, it is streamed and the hedge is cancelled (hedged: true)', async () => {
    const { engine: e, hedges } = await warmed(HEDGE);
    fake.setBehavior('big', { latencyMs: 600, chunkDelayMs: 1 });
    fake.setBehavior('small', { latencyMs: 4000 });
    const { text, result } = await run(e);
    expect(text).toMatch(/^big answer: tell me a story/);
    expect(result).toMatchObject({ model: 'smart', fallback: false });
    expect(result.attempts).toEqual([
      expect.objectContaining({ model: 'fast', outcome: 'cancelled', hedged: true, message: 'another model answered first' }),
      expect.objectContaining({ model: 'smart', outcome: 'success' }),
    ]);
    expect(hedges).toEqual(['smart->fast']);
    expect(fake.requests('small').length).toBe(1);
    await waitFor(() => fake.stats('small').aborted === 1);
    expect(e.status().models.map((s) => s.failures)).toEqual([0, 0]);
  });

  it('a stream that has started is never hedged, however slow the rest of it is', async () => {
    // first tokens after about 150 ms so far
    const { engine: e, hedges } = await warmed(HEDGE, 5, 150);
    // now a first token at once, then a slow answer: long past the first-token percentile
    fake.setBehavior('big', { latencyMs: 0, chunkDelayMs: 100, text: 'one two three four five six seven eight' });
    const { text, result } = await run(e);
    expect(text).toBe('one two three four five six seven eight');
    expect(result.latencyMs).toBeGreaterThan(500);
    expect(result).toMatchObject({ model: 'smart', fallback: false });
    expect(result.attempts).toEqual([expect.objectContaining({ model: 'smart', outcome: 'success' })]);
    expect(hedges).toEqual([]);
    expect(fake.requests('small').length).toBe(0);
  });

  it('a hedge that fails before its first token leaves the slow model to answer', async () => {
    const { engine: e, hedges } = await warmed(HEDGE);
    fake.setBehavior('big', { latencyMs: 600, chunkDelayMs: 1 });
    fake.setBehavior('small', { mode: 'error', status: 503 });
    const { text, result } = await run(e);
    expect(text).toMatch(/^big answer/);
    expect(result).toMatchObject({ model: 'smart', fallback: false });
    expect(result.attempts).toEqual([
      expect.objectContaining({ model: 'fast', outcome: 'error', status: 503, hedged: true }),
      expect.objectContaining({ model: 'smart', outcome: 'success' }),
    ]);
    expect(hedges).toEqual(['smart->fast']);
    expect(fake.requests('big').length).toBe(1);
  });

  it('a caller that leaves during the race cancels both streams: the error lists both as cancelled, both upstream requests are aborted', async () => {
    const { engine: e, hedges } = await warmed(HEDGE);
    fake.setBehavior('big', { mode: 'hang' });
    fake.setBehavior('small', { mode: 'hang' });
    const caller = new AbortController();
    const s = e.stream({ ...ask(), signal: caller.signal });
    const read = (async () => {
      for await (const _ of s) {
        // nothing comes
      }
    })().catch((err: unknown) => err);
    await waitFor(() => fake.stats('small').pending === 1);
    caller.abort();
    const err = (await read) as { code: string; attempts: { model: string; outcome: string; message?: string; hedged?: boolean }[] };
    expect(err.code).toBe('REQUEST_ABORTED');
    expect(err.attempts.map((a) => [a.model, a.outcome, a.message, a.hedged ?? false]).sort()).toEqual([
      ['fast', 'cancelled', 'the caller went away', true],
      ['smart', 'cancelled', 'the caller went away', false],
    ]);
    expect(hedges).toEqual(['smart->fast']);
    await waitFor(() => fake.stats('big').aborted === 1 && fake.stats('small').aborted === 1);
    await waitFor(() => e.status().models.every((st) => st.inFlight === 0));
    expect(e.status().models.map((st) => st.failures)).toEqual([0, 0]);
  });

  it('without enough first-token samples, or with hedging off, a slow first token is waited for', async () => {
    for (const [hedge, samples] of [
      [HEDGE, 3],
      [false, 5],
    ] as const) {
      const { engine: e, hedges } = await warmed(hedge, samples);
      fake.setBehavior('big', { latencyMs: 250, chunkDelayMs: 1 });
      const { result } = await run(e);
      expect(result).toMatchObject({ model: 'smart', fallback: false });
      expect(hedges).toEqual([]);
      expect(fake.requests('small').length).toBe(0);
      await e.close();
      engine = undefined;
    }
  });
});
