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
/**
 * A partial answer shorter than this (normalised) is looked for anywhere past a preamble only with more evidence
 * than its words (see `ContinuationCheck.#restartsAfterPreamble`).
 */
const SEARCH_MIN_CHARS = 12;
/** A partial answer shorter than this (normalised: "the", "yes", "this") is only looked for at the very start. */
const SHORT_SEARCH_MIN_CHARS = 5;
/** Normalised characters of preamble a restart may begin after. */
const PREAMBLE_CHARS = 200;
/** Raw characters held back at most: past them the check decides on what it has (a text of few letters or digits). */
const MAX_HELD_CHARS = 4096;

/**
 * Letters and digits only, compatibility-decomposed, without combining marks or format characters (zero-width
 * spaces, joiners), case-folded, words separated by single spaces.
 */
export function normalizeForOverlap(text: string): string {
  return folded(text).replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/**
 * `normalizeForOverlap` with the separators that end a sentence or a line (a line break, a colon, `.`, `!`, `?`,
 * `…`, `。` in any Unicode spelling) written `\n`: the same characters at the same places otherwise.
 */
export function normalizeSegments(text: string): string {
  return folded(text)
    .replace(/[^\p{L}\p{N}]+/gu, (gap) => (BOUNDARY.test(gap) ? '\n' : ' '))
    .trim();
}

/** Characters that end a sentence or a line, once compatibility-decomposed (`：` is `:`, `…` is `...`). */
const BOUNDARY = /[.!?:\u3002\n\r\u0085\u2028\u2029]/u;

/** Compatibility-decomposed, case-folded, without combining marks or format characters. */
function folded(text: string): string {
  return text
    .normalize('NFKD')
    .toUpperCase() // then lower: folds what lower case alone keeps apart (ß and SS)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\p{M}\p{Cf}]+/gu, '');
}

/** Compatibility-decomposed, without combining marks or format characters, case kept. */
function bare(text: string): string {
  return text.normalize('NFKD').replace(/[\p{M}\p{Cf}]+/gu, '');
}

/** The check for one continuation of one partial answer (the partial answer is normalised once). */
export class ContinuationCheck {
  readonly #p: string;
  readonly #cutInWord: boolean;
  /** Whether a restart after a preamble is looked for although the partial answer is short (see #restartsAfterPreamble). */
  readonly #searchShort: boolean;

  constructor(partial: string) {
    this.#p = normalizeForOverlap(partial);
    this.#cutInWord = /[\p{L}\p{N}][\p{M}\p{Cf}]*$/u.test(partial.normalize('NFKD'));
    const raw = bare(partial);
    // the partial answer's sentence is unfinished (no sentence or line ended after its last letter or digit), and
    // its last cased letter is a small one: a capital opening the continuation cannot be the rest of its word
    const unfinished = !BOUNDARY.test(/[^\p{L}\p{N}]*$/u.exec(raw)?.[0] ?? '');
    const lastCased = /[\p{Lu}\p{Ll}\p{Lt}](?=[^\p{Lu}\p{Ll}\p{Lt}]*$)/u.exec(raw)?.[0];
    this.#searchShort = this.#p.length >= SHORT_SEARCH_MIN_CHARS && unfinished && lastCased !== undefined && /\p{Ll}/u.test(lastCased);
  }

  /**
   * The verdict on the continuation of which `continuation` has arrived so far; `ended`: it is all there (the
   * attempt ended). `undecided` only while it has not ended: hold its text back and ask again with more.
   */
  verdict(continuation: string, ended: boolean): ContinuationVerdict {
    if (this.#p === '') return 'continues'; // a partial answer of no words cannot be repeated
    const done = ended || continuation.length > MAX_HELD_CHARS;
    const segments = normalizeSegments(continuation);
    const c = segments.replace(/\n/g, ' ');
    const restart = this.#restarts(c, done, continuation, segments);
    if (restart === true) return 'starts_over';
    const repeat = this.#repeatsTail(c, done);
    if (repeat === true) return 'starts_over';
    return restart === undefined || repeat === undefined ? 'undecided' : 'continues';
  }

  /** Whether `c` begins the partial answer again (perhaps after a preamble); undefined: not known yet. */
  #restarts(c: string, done: boolean, raw: string, segments: string): boolean | undefined {
    const p = this.#p;
    if (p.length < SEARCH_MIN_CHARS) {
      // A short partial answer at the very start: all of it, as whole words, or as a beginning when the partial
      // answer was cut inside a word. Further on, its words alone are no evidence (see #restartsAfterPreamble).
      if (!done && c.length <= p.length && p.startsWith(c)) return undefined;
      if ((this.#cutInWord ? c.startsWith(p) : (c + ' ').startsWith(p + ' ')) || endedShort(p, c)) return true;
      return this.#restartsAfterPreamble(c, done, raw, segments);
    }
    // the head of the partial answer, starting on a word, within the room a preamble may take
    const head = p.slice(0, HEAD_CHARS);
    const at = (' ' + c).indexOf(' ' + head);
    if (at !== -1 && at <= PREAMBLE_CHARS) return true;
    if (at > PREAMBLE_CHARS || c.length >= PREAMBLE_CHARS + head.length) return false;
    return done ? endedShort(p, c) : undefined;
  }

  /**
   * Whether `c` starts a short partial answer over after a preamble; undefined: not known yet (the continuation is
   * held back meanwhile, at most until the room a preamble may take has gone by).
   *
   * The words of a partial answer of a few characters are in many texts ("Hello wor" is in "… said hello world"),
   * so they are evidence of a restart only together with all of this:
   * - they are there as whole words (the last one as a beginning when the partial answer was cut inside a word),
   *   within `PREAMBLE_CHARS`, where a text may begin anew: after a line break, a colon or the end of a sentence;
   * - the continuation cannot be the rest of the partial answer: the partial answer's sentence is unfinished and
   *   ends in small letters, and the continuation opens with a capital (a new sentence, or a word glued to the
   *   partial answer's last one), where the rest of a sentence or of a word goes on in small letters;
   * - after them the continuation does not go on as it went on from the partial answer itself: that is an answer
   *   that says a name twice ("New " continued by "York is big. New York has …"), not a restart.
   * Not looked for: a partial answer of fewer than `SHORT_SEARCH_MIN_CHARS` characters (a word such as "the" opens
   * many sentences), one that ends a sentence or is in capitals, and a continuation that opens in small letters or
   * in a script without case, where nothing tells a preamble from the rest of the answer.
   */
  #restartsAfterPreamble(c: string, done: boolean, raw: string, segments: string): boolean | undefined {
    if (!this.#searchShort) return false;
    const p = this.#p;
    const opening = /[\p{L}\p{N}]/u.exec(bare(raw))?.[0];
    if (opening === undefined) return done ? false : undefined;
    if (!/[\p{Lu}\p{Lt}]/u.test(opening)) return false;
    // how the answer went on from the partial answer: its next word (the rest of the last one, if glued to it)
    const glued = this.#cutInWord && /^[\p{L}\p{N}]/u.test(bare(raw));
    const wentOn = nextWord((glued ? '' : ' ') + c) as string;
    let pending = false;
    for (let gap = segments.indexOf('\n'); gap !== -1 && gap < PREAMBLE_CHARS; gap = segments.indexOf('\n', gap + 1)) {
      const rest = c.slice(gap + 1);
      if (!rest.startsWith(p)) {
        if (!done && p.startsWith(rest)) pending = true; // it may be arriving
        continue;
      }
      const after = rest.slice(p.length);
      if (!this.#cutInWord && after !== '' && after[0] !== ' ') continue; // not as whole words
      const next = nextWord(after);
      if (next === null) {
        if (done) return true; // the continuation ends with them
        pending = true;
        continue;
      }
      const whole = done || after.length > next.length;
      if (whole ? next !== wentOn : !wentOn.startsWith(next)) return true;
      if (!whole) pending = true;
    }
    if (pending) return undefined;
    return done || c.length > PREAMBLE_CHARS ? false : undefined;
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

/** The first word of normalised `s` (with the space before it, if any); null when `s` has none yet. */
function nextWord(s: string): string | null {
  return /^ ?[^ ]+/.exec(s)?.[0] ?? null;
}

/** A continuation that ended short of the check: a restart cut short is a beginning of the partial answer, in whole words. */
function endedShort(p: string, c: string): boolean {
  return c !== '' && (p + ' ').startsWith(c + ' ');
}
