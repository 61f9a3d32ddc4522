/**
 * Whether a model asked to continue an interrupted answer really continues it, or starts it over.
 *
 * A model sent the partial answer as a trailing assistant message should go on from its last character. One that
 * does not honour the prefill answers anew: its text begins as the partial answer began, perhaps after a preamble
 * ("Sorry, my answer was cut off. Here it is again: …"). Spliced in, the client would get the beginning twice. So
 * the first characters of a continuation are held back until this check can decide, and a continuation that starts
 * over is a failed attempt, never delivered.
 *
 * Texts are compared normalised (`normalizeForOverlap`), so that a restart re-spaced, re-punctuated, in another case
 * or in another Unicode spelling of the same words (full-width, composed or not, with zero-width characters) is
 * still one.
 */
export type ContinuationVerdict = 'continues' | 'starts_over' | 'undecided';

/** Normalised characters of the partial answer's beginning looked for in the continuation. */
const HEAD_CHARS = 24;
/** A partial answer shorter than this (normalised) is only looked for at the very start of the continuation. */
const SEARCH_MIN_CHARS = 12;
/** Normalised characters of preamble a restart may begin after. */
const PREAMBLE_CHARS = 200;
/** Raw characters held back at most: past them the check decides on what it has (a text of few letters or digits). */
const MAX_HELD_CHARS = 4096;

/**
 * Letters and digits only, compatibility-decomposed, without combining marks or format characters (zero-width
 * spaces, joiners), case-folded, words separated by single spaces.
 */
export function normalizeForOverlap(text: string): string {
  return text
    .normalize('NFKD')
    .toUpperCase() // then lower: folds what lower case alone keeps apart (ß and SS)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\p{M}\p{Cf}]+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The check for one continuation of one partial answer (the partial answer is normalised once). */
export class ContinuationCheck {
  readonly #p: string;
  readonly #cutInWord: boolean;

  constructor(partial: string) {
    this.#p = normalizeForOverlap(partial);
    this.#cutInWord = /[\p{L}\p{N}][\p{M}\p{Cf}]*$/u.test(partial.normalize('NFKD'));
  }

  /**
   * The verdict on the continuation of which `continuation` has arrived so far; `ended`: it is all there (the
   * attempt ended). `undecided` only while it has not ended: hold its text back and ask again with more.
   */
  verdict(continuation: string, ended: boolean): ContinuationVerdict {
    if (this.#p === '') return 'continues'; // a partial answer of no words cannot be repeated
    const done = ended || continuation.length > MAX_HELD_CHARS;
    const c = normalizeForOverlap(continuation);
    const restart = this.#restarts(c, done);
    if (restart === true) return 'starts_over';
    const repeat = this.#repeatsTail(c, done);
    if (repeat === true) return 'starts_over';
    return restart === undefined || repeat === undefined ? 'undecided' : 'continues';
  }

  /** Whether `c` begins the partial answer again (after a preamble, for a long one); undefined: not known yet. */
  #restarts(c: string, done: boolean): boolean | undefined {
    const p = this.#p;
    if (p.length < SEARCH_MIN_CHARS) {
      // A short partial answer is only looked for at the very start (further on, a short word such as "the" is in
      // any text): all of it, as whole words, or as a beginning when the partial answer was cut inside a word.
      if (!done && c.length <= p.length) return p.startsWith(c) ? undefined : false;
      return (this.#cutInWord ? c.startsWith(p) : (c + ' ').startsWith(p + ' ')) || endedShort(p, c);
    }
    // the head of the partial answer, starting on a word, within the room a preamble may take
    const head = p.slice(0, HEAD_CHARS);
    const at = (' ' + c).indexOf(' ' + head);
    if (at !== -1 && at <= PREAMBLE_CHARS) return true;
    if (at > PREAMBLE_CHARS || c.length >= PREAMBLE_CHARS + head.length) return false;
    return done ? endedShort(p, c) : undefined;
  }

  /**
   * Whether `c` begins by saying again the end of the partial answer (from a word at least `HEAD_CHARS` before its
   * end: the model went back to the start of the sentence, say); undefined: not known yet.
   */
  #repeatsTail(c: string, done: boolean): boolean | undefined {
    const p = this.#p;
    if (p.length < HEAD_CHARS) return false;
    if (c.length < HEAD_CHARS) return done ? false : undefined;
    const probe = c.slice(0, HEAD_CHARS);
    let unknown = false;
    for (let j = p.indexOf(probe); j !== -1; j = p.indexOf(probe, j + 1)) {
      if (j > 0 && p[j - 1] !== ' ') continue;
      const tail = p.slice(j);
      if (c.startsWith(tail)) return true; // all the rest of the partial answer again
      if (tail.startsWith(c)) unknown = true; // so far the same: more of it decides
    }
    return unknown ? (done ? true : undefined) : false;
  }
}

/** The verdict on `continuation` of `partial` (see `ContinuationCheck`). */
export function continuationVerdict(partial: string, continuation: string, ended: boolean): ContinuationVerdict {
  return new ContinuationCheck(partial).verdict(continuation, ended);
}

/** A continuation that ended short of the check: a restart cut short is a beginning of the partial answer, in whole words. */
function endedShort(p: string, c: string): boolean {
  return c !== '' && (p + ' ').startsWith(c + ' ');
}
