import type { AbortLatch } from '../signals';
import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import type { Admitted } from './admission';
import type { FailureClass } from './attempt-failure';
import type { AttemptAnswer } from './run-attempt';

/**
 * How an attempt ended, as a value: answered (`value`: a whole answer for `complete()`, a stream that committed at
 * its first content token for streams), or failed.
 */
export type Settled<V = AttemptAnswer> = { ok: true; value: V; latencyMs: number } | { ok: false; failure: FailureClass; latencyMs: number; error: unknown };

/** One attempt in flight. */
export interface Running<V = AttemptAnswer> {
  model: ResolvedModel;
  index: number;
  hedged: boolean;
  started: number;
  /** Only when hedging is on: aborts a contender that lost the race. */
  cancel: AbortLatch | null;
  req: NormalizedRequest;
  /** The attempt's own promise (through the breaker, when there is one): it resolves once the attempt answered. */
  raw: Promise<V>;
  done: boolean;
  /** How it ended, once it has. */
  settled: Settled<V> | null;
  deadlineBound: boolean;
  prepared: Extract<Admitted, { ok: true }>;
  /** For a retry of the same model: which one (1 for the first). */
  retry?: number;
  /** Started to rescue a slow attempt (see `rescue`). */
  rescue?: boolean;
  /** A slow attempt a rescue was started beside: never cancelled when the rescue answers first (see `superseded`). */
  background?: boolean;
}

/** An attempt the walk awaits: how it ends, as a value. */
export interface Contender<V = AttemptAnswer> extends Running<V> {
  promise: Promise<Settled<V>>;
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
