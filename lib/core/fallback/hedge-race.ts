import { RequestAbortedError } from '../../errors/request-aborted-error';
import { CALLER_GONE } from './attempt-log';
import type { Running, Contender } from './running-attempt';
import { elapsed } from './running-attempt';
import { timerDelay } from '../timer-delay';

/**
 * A hedge race: a slow attempt and the next model, started after the first's usual latency (the hedge's
 * percentile). The first to answer wins (a whole answer; for a stream, its first content token) and the others
 * are cancelled (recorded as `cancelled`, with why); the race is lost when every contender failed. Each contender
 * is judged as it ends by `judge` (true: it answered), which throws for the caller's cancellation or the caller's
 * own bad request: the race then rejects with it.
 */
export function settleRace<V>(
  contenders: Contender<V>[],
  judge: (c: Running<V>) => boolean,
  cancelled: (c: Running<V>, latencyMs: number, why: string) => void,
  superseded?: (c: Contender<V>, latencyMs: number) => void,
): Promise<Running<V> | null> {
  return new Promise((resolve, reject) => {
    let pending = contenders.length;
    let decided = false;
    /** Cancels and records the contenders still running, with why they were stopped. */
    const stopOthers = (except: Running<V>, why: string): void => {
      for (const o of contenders) {
        if (o === except || o.done) continue;
        o.done = true;
        if (o.background && superseded) {
          // a slow attempt that was rescued runs to its own end: its outcome decides the model's breaker
          superseded(o, elapsed(o.started));
          continue;
        }
        o.cancel?.abort();
        cancelled(o, elapsed(o.started), why);
      }
    };
    for (const c of contenders) {
      void c.promise.then((settled) => {
        if (c.done) return; // cancelled and recorded already
        c.done = true;
        c.settled = settled;
        if (decided) return;
        try {
          if (judge(c)) {
            decided = true;
            stopOthers(c, 'another model answered first');
            resolve(c);
          } else if (--pending === 0) {
            decided = true;
            resolve(null);
          }
        } catch (err) {
          decided = true;
          stopOthers(c, err instanceof RequestAbortedError ? CALLER_GONE : 'the request was rejected by another model');
          reject(err);
        }
      });
    }
  });
}

/** Resolves true when `ms` passes before `p` settles. */
export function timerWins(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(true), timerDelay(ms));
    void p.then(() => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

