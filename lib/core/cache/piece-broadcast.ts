import type { StreamStart } from '../complete';

/**
 * The pieces of one streamed call, for every stream that follows it: the producer pushes each piece once; each
 * follower reads them from its own position, so one that comes late gets the pieces made so far and then the rest
 * as they come, and a slow one never holds back the producer or the others. How the call ends (its answer or its
 * error) is not here: the followers learn it from the flight they joined, after the last piece.
 */
export class PieceBroadcast {
  /** Every piece pushed so far, in order. */
  readonly pieces: string[] = [];
  /** Who answers, as the call said at its first piece (null until then). */
  start: StreamStart | null = null;
  #changed: Promise<void> | null = null;
  #wake: (() => void) | null = null;

  push(piece: string): void {
    this.pieces.push(piece);
    const wake = this.#wake;
    this.#wake = null;
    this.#changed = null;
    wake?.();
  }

  /** Resolves at the next piece pushed (one promise for everyone waiting). */
  changed(): Promise<void> {
    this.#changed ??= new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#changed;
  }
}
