import { StreamInterruptedError } from '../../errors/stream-interrupted-error';
import type { AttemptRecord, StreamResult } from '../../types';
import type { CallContext, StreamStart } from '../complete';
import type { ChainSuccess } from '../fallback/fallback-chain';
import { AbortLatch, type AbortSource, linkSignals } from '../signals';
import { type CacheLayer, type FlightEnd, usageWithCost } from './cache-layer';
import { PieceBroadcast } from './piece-broadcast';
import type { CachedAnswer } from './response-cache';

/** What the cache layer hands the uncached stream (the walk over the chain) when it starts one. */
export interface WalkStart {
  /** Cancels the walk: the flight's signal (every participant gone), or the caller's for a call of its own. */
  signal: AbortSource;
  /** Where the walk records its attempts. */
  attempts: AttemptRecord[];
  /** Told who answers, just before the first piece. */
  onStreamStart?: (start: StreamStart) => void;
}

/** Starts the uncached stream: the walk over the chain, yielding pieces and returning the stream's result. */
export type StartWalk = (how: WalkStart) => AsyncGenerator<string, StreamResult>;

/** Why a stream that followed another's call ends interrupted although that call succeeded. */
const FOLLOWED_REJECTED = "the answer of the identical call this stream followed failed this request's own checks (validate or acceptTruncated) after it was delivered";

/**
 * A stream through the cache layer (see `CacheLayer`), as `complete()` goes through it:
 * - an exact or semantic hit is replayed as pieces (`cached: true` or `'semantic'` with its `similarity`);
 * - on a miss the stream joins the call in flight for the same flight key, or makes it: the walk `startWalk` starts
 *   runs on its own (a broadcast), not driven by any one participant, and every stream in the flight receives the
 *   pieces made so far and then the rest as they come; a `complete()` in the flight gets the whole answer. The walk
 *   is cancelled only when every participant has left. A stream that joined a `complete()`'s call, or whose call
 *   another process made (the shared store's fill lock), replays the whole answer when it comes;
 * - the answer is filled in by the layer's one rule.
 * A participant ends as the call does: an interruption mid-stream is a `StreamInterruptedError` for each, with the
 * characters it delivered itself. A participant that would not accept the call's answer by its own rules (its
 * `validate` hook, `acceptTruncated`; see `CacheLayer.accepts`) makes its own call when it has delivered nothing
 * yet; when it has (it followed a stream's pieces, and answers are judged when whole), it ends as its own stream
 * would after its hook rejected a delivered answer: `StreamInterruptedError`, nothing taken back, nothing continued.
 */
export async function* cachedStream(layer: CacheLayer, call: CallContext, attempts: AttemptRecord[], startWalk: StartWalk): AsyncGenerator<string, StreamResult> {
  const { req, started } = layer;
  const hit = await layer.lookup(req.signal ?? call.signal);
  if (hit) {
    const cached = hit.kind === 'semantic' ? 'semantic' : true;
    call.onStreamStart?.({ model: hit.answer.model, fallback: hit.answer.fallback, cached, attempts: 0 });
    for (const piece of piecesOf(hit.answer.text)) yield piece;
    const r = replayed(hit.answer, cached, false, elapsed(started));
    if (hit.kind === 'semantic') r.similarity = hit.similarity;
    return r;
  }

  // a participant leaves when its caller goes (or, see `finally`, when its consumer stops reading)
  const leave = new AbortLatch();
  const unlink = linkSignals(leave, [req.signal, call.signal]);
  const own = new PieceBroadcast();
  const flight = layer.flight(leave, (signal) => produce(startWalk, signal, own, attempts), own);
  // the stream making the call (this one's own, or the one it follows), or undefined when a complete() makes it
  const followed = layer.following();
  // settled: the flight has ended for this participant; answered: with an answer (a caller gone after that is too late)
  const state = { settled: false, answered: false };
  const ended = flight.then(
    () => void (state.settled = state.answered = true),
    () => void (state.settled = true),
  );
  let finished = false;
  let delivered = 0;
  let firstPieceMs: number | null = null;
  try {
    if (followed) {
      for (let i = 0; !leave.aborted || state.answered; ) {
        if (i < followed.pieces.length) {
          const piece = followed.pieces[i++];
          if (firstPieceMs === null) {
            firstPieceMs = Math.round(performance.now() - started);
            if (followed.start) call.onStreamStart?.({ ...followed.start });
          }
          delivered += piece.length;
          yield piece;
          continue;
        }
        if (state.settled) break;
        await Promise.race([followed.changed(), ended]);
      }
    }
    let end: FlightEnd;
    try {
      end = await flight;
    } catch (err) {
      // the call's interruption, told with what this participant delivered (the one that made the call: as is)
      if (err instanceof StreamInterruptedError && followed !== own) throw new StreamInterruptedError(err.attempts.map((a) => ({ ...a })), delivered);
      throw err;
    }
    const v = end.value;
    if (await layer.accepts(end)) {
      if ('streamed' in v && delivered > 0) {
        finished = true;
        const r = v.streamed;
        return { ...r, coalesced: end.joined, firstTokenMs: end.joined ? firstPieceMs : r.firstTokenMs, latencyMs: elapsed(started) };
      }
      // a whole answer: another process's, a complete()'s, (or a stream's whose pieces this one did not see)
      const start: StreamStart =
        'shared' in v
          ? { model: v.shared.model, fallback: v.shared.fallback, cached: true, attempts: 0 }
          : 'streamed' in v
            ? { model: v.streamed.model, fallback: v.streamed.fallback, cached: false, attempts: v.streamed.attempts.length }
            : { model: v.model.name, fallback: v.fallback, cached: false, attempts: v.attempts.length };
      call.onStreamStart?.(start);
      firstPieceMs = Math.round(performance.now() - started);
      const text = 'shared' in v ? v.shared.text : 'streamed' in v ? v.streamed.text : v.answer.text;
      for (const piece of piecesOf(text)) yield piece;
      finished = true;
      if ('shared' in v) return replayed(v.shared, true, end.joined, elapsed(started));
      if ('streamed' in v) return { ...v.streamed, coalesced: end.joined, firstTokenMs: firstPieceMs, latencyMs: elapsed(started) };
      return fromChain(v, end.joined, firstPieceMs, elapsed(started));
    }
    if (delivered > 0) throw new StreamInterruptedError('streamed' in v ? v.streamed.attempts : [], delivered, FOLLOWED_REJECTED);
    // nothing delivered yet: its own call, as complete() makes one (not cached: the entry there suits the others)
    const r = yield* startWalk({ signal: leave, attempts, onStreamStart: call.onStreamStart });
    finished = true;
    return { ...r, coalesced: false };
  } finally {
    unlink();
    if (!finished) {
      // the consumer stopped reading, or the stream failed: it leaves the flight; the last one to leave cancels the
      // call and waits (briefly) for it to record how it ended, so that the stream's attempts say so
      leave.abort();
      await ended;
    }
  }
}

/** The one call of a stream's flight: the walk, driven here (not by a consumer), its pieces published as they come. */
async function produce(startWalk: StartWalk, signal: AbortSource, progress: PieceBroadcast, attempts: AttemptRecord[]): Promise<{ streamed: StreamResult }> {
  const walk = startWalk({ signal, attempts, onStreamStart: (s) => (progress.start = s) });
  for (;;) {
    const step = await walk.next();
    if (step.done) return { streamed: step.value };
    progress.push(step.value);
  }
}

/** An answer replayed from the cache (or from another process's call). */
function replayed(a: CachedAnswer, cached: StreamResult['cached'], coalesced: boolean, latencyMs: number): StreamResult {
  const r: StreamResult = {
    text: a.text,
    model: a.model,
    providerModel: a.providerModel,
    cached,
    fallback: a.fallback,
    resumed: false,
    attempts: [],
    usage: { ...a.usage },
    finishReason: a.finishReason,
    firstTokenMs: null,
    latencyMs,
    coalesced,
  };
  if (a.json !== undefined) r.json = a.json;
  return r;
}

/** A stream's result from the whole answer of an identical `complete()`'s call it joined. */
function fromChain(s: ChainSuccess, coalesced: boolean, firstTokenMs: number, latencyMs: number): StreamResult {
  const r: StreamResult = {
    text: s.answer.text,
    model: s.model.name,
    providerModel: s.answer.providerModel,
    cached: false,
    fallback: s.fallback,
    resumed: false,
    attempts: s.attempts,
    usage: usageWithCost(s),
    finishReason: s.answer.finishReason,
    firstTokenMs,
    latencyMs,
    coalesced,
  };
  if (s.json !== undefined) r.json = s.json;
  if (s.answer.toolCalls !== undefined) r.toolCalls = s.answer.toolCalls;
  if (s.answer.refusal !== undefined) r.refusal = s.answer.refusal;
  return r;
}

/** A whole answer as stream pieces: a word with the spaces after it. */
function piecesOf(text: string): string[] {
  // (no text, as a tool-call answer may have: no piece)
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
