/**
 * Whether a model asked to continue an interrupted answer really continues it, or starts it over.
 *
 * A model sent the partial answer as a trailing assistant message should go on from its last character. One that
 * does not honour the prefill answers anew: its text begins as the partial answer began, perhaps after a short
 * preamble ("Sure! Here it is: …"). Spliced in, the client would get the beginning twice. So the first characters
 * of a continuation are held back until this check can decide, and a continuation that starts over is a failed
 * attempt, never delivered.
 *
 * Texts are compared normalised (NFKC, lower case, every run of characters other than letters and digits as one
 * space), so that a restart re-spaced, re-punctuated or in another Unicode spelling of the same words is still one.
 */
export type ContinuationVerdict = 'continues' | 'starts_over' | 'undecided';

/** Normalised characters of the partial answer's beginning looked for in the continuation. */
const HEAD_CHARS = 24;
/** A partial answer shorter than this (normalised) is only looked for at the very start of the continuation. */
const SEARCH_MIN_CHARS = 12;
/** Normalised characters of the continuation, beyond the head's length, in which a restart may begin (a preamble). */
const PREAMBLE_CHARS = 64;

/** Letters and digits only, in one case and one Unicode form, words separated by single spaces. */
export function normalizeForOverlap(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/**
 * The verdict on a continuation of `partial` of which `continuation` has arrived so far; `ended`: it is all there
 * (the attempt ended or failed). `undecided` only while it has not ended: hold its text back and ask again.
 */
export function continuationVerdict(partial: string, continuation: string, ended: boolean): ContinuationVerdict {
  const p = normalizeForOverlap(partial);
  if (p === '') return 'continues'; // a partial answer of no words cannot be repeated
  const c = normalizeForOverlap(continuation);
  if (p.length < SEARCH_MIN_CHARS) {
    // A short partial answer is only looked for at the very start (further on, a short word such as "the" is in
    // any text): all of it, as whole words, or as a beginning when the partial answer was cut inside a word.
    if (!ended && c.length <= p.length) return p.startsWith(c) ? 'undecided' : 'continues';
    const cutInWord = /[\p{L}\p{N}]$/u.test(partial.normalize('NFKC'));
    if (cutInWord ? c.startsWith(p) : (c + ' ').startsWith(p + ' ')) return 'starts_over';
    return endedShort(p, c) ? 'starts_over' : 'continues';
  }
  const head = p.slice(0, HEAD_CHARS);
  // the head, starting on a word, anywhere in the window a preamble may take
  const span = head.length + PREAMBLE_CHARS;
  if ((' ' + c.slice(0, span)).includes(' ' + head)) return 'starts_over';
  if (c.length >= span) return 'continues';
  if (!ended) return 'undecided';
  return endedShort(p, c) ? 'starts_over' : 'continues';
}

/** A continuation that ended short of the check: a restart cut short is a beginning of the partial answer, in whole words. */
function endedShort(p: string, c: string): boolean {
  return c !== '' && (p + ' ').startsWith(c + ' ');
}
