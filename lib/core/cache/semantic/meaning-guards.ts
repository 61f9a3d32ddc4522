import { bareLetters, guardText } from './guard-text';

/**
 * Guards against near-identical prompts with different meaning, which embeddings place close together:
 * a negation present in one and not the other ("is it safe" / "is it not safe"), or different numbers,
 * signs, exponents or operators ("2 + 2" / "2 + 3", "-5" / "5", "10^-3" / "10^3", "2 - 5" / "2 + 5").
 * A candidate that fails a guard is never a hit, however similar. Both guards read the prompt through
 * `guardText`, so no Unicode spelling hides a negation or changes a number ("Don’t", "n\u200Bot", "−5",
 * "10⁻³", "٣", "３" read as "don't", "not", "-5", "10^-3", "3", "3").
 */
const NEGATIONS = new Set([
  'not', 'no', 'never', 'none', 'nobody', 'nothing', 'neither', 'nor', 'without', 'cannot',
  'except', 'excluding', 'unless', 'nicht', 'kein', 'pas', 'jamais', 'nunca',
]);
/** Contractions written without their apostrophe; with it, every word ending in `n't` is one. */
const CONTRACTIONS = new Set([
  'cant', 'dont', 'doesnt', 'isnt', 'arent', 'wasnt', 'werent', 'wont', 'wouldnt', 'shouldnt', 'couldnt', 'didnt',
  'havent', 'hasnt', 'hadnt', 'mustnt', 'neednt', 'mightnt', 'shant', 'aint',
]);

export interface MeaningMarks {
  /** The negation words, sorted. */
  negations: string;
  /** Each stretch of numbers with the signs and operators around them, in order. */
  numbers: string;
}

export function meaningMarks(text: string): MeaningMarks {
  const guarded = guardText(text);
  const negations: string[] = [];
  const letters = bareLetters(guarded).replace(CONTRACTION_MARK, "$1't");
  for (const word of letters.match(WORD) ?? []) {
    const w = trim(word, isApostrophe); // 'not' in quotes is a negation too
    const squashed = w.replace(NOT_A_LETTER, '');
    if (w.endsWith("n't") || CONTRACTIONS.has(squashed)) negations.push("n't");
    else if (NEGATIONS.has(squashed)) negations.push(squashed);
    else if (PHONETIC.test(w) || (LATIN.test(w) && LOOKS_LATIN.test(w))) negations.push(`?${w}`); // "ɴᴏᴛ", "nоt" (Cyrillic о): kept as written
  }
  const numbers: string[] = [];
  for (const run of guarded.match(NUMBER_RUN) ?? []) if (NUMERAL.test(run)) numbers.push(numberRun(run));
  return { negations: negations.sort().join(' '), numbers: numbers.join(';') };
}

export function sameMeaningMarks(a: MeaningMarks, b: MeaningMarks): boolean {
  return a.negations === b.negations && a.numbers === b.numbers;
}

const WORD = /[\p{L}']+/gu;
const LATIN = /\p{Script=Latin}/u;
/** Scripts with letters that pass for Latin ones (о, ο, օ, Ꭺ, ⲟ, ꓳ): a word mixing one with Latin may hide a word. */
const LOOKS_LATIN = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}\p{Script=Coptic}\p{Script=Lisu}]/u;
/**
 * Latin letters NFKC leaves alone that few words are written with: small capitals and other phonetic letters
 * (IPA, Phonetic Extensions, Latin Extended-C to G). A word with one may be a disguised word (`ɴᴏᴛ`).
 */
const PHONETIC = /[\u0250-\u02af\u1d00-\u1dbf\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\u{10780}-\u{107bf}\u{1df00}-\u{1dfff}]/u;
/** Whatever is not a letter, digit or space between `n` and a final `t` stands for the apostrophe (`don‚t`, `don΄t`). */
const CONTRACTION_MARK = /(\p{L}n)[^\p{L}\p{N}\s]+t(?!\p{L})/gu;
/** Modifier letters (`ʼ`, `ʾ`, …) and apostrophes inside a word: `donʾt` is `dont`. */
const NOT_A_LETTER = /[\p{Lm}']/gu;
/**
 * A stretch of text holding a number (any `\p{N}`: digits, and the numerals NFKC leaves as they are), with the
 * signs, operators, symbols (`\p{S}`: `^ + = < > ≠ $ €`…), punctuation and marks around it: `-5`, `10^-3`,
 * `(-2)^2`, `2 + 2 =`, `5%`, `$3.50`, `5!`. Only a letter ends it, so a dash or sign the normalisation does not
 * know still keeps `⁃5` apart from `5`; a letter other than a–z written right before it is part of it too,
 * since letters of other scripts pass for a minus (`Ⲻ5`, `ー5`, `一5`).
 */
const NUMBER_RUN = /(?:[^a-z\s\p{N}\p{S}\p{M}\p{P}](?=[\p{N}\p{S}\p{M}\p{P}]))?[\p{N}\s\p{S}\p{M}\p{P}]+/gu;
const SPACES = /\s+/;
/** Sentence punctuation at its ends (not `!`, a factorial, nor brackets). */
const TRAILING = /^[.,:;?'"\p{Pi}\p{Pf}\s]$/u;
const LEADING = /^[,:;?¿¡'"\p{Pi}\p{Pf}\s]$/u;

/** One run as the guard compares it: without the spaces (two numbers stay apart) or the sentence's punctuation. */
function numberRun(run: string): string {
  const parts = trim(run, (c) => LEADING.test(c), (c) => TRAILING.test(c)).split(SPACES);
  let out = parts[0];
  for (let i = 1; i < parts.length; i++) out += ENDS_IN_NUMERAL.test(out) && STARTS_WITH_NUMERAL.test(parts[i]) ? ` ${parts[i]}` : parts[i];
  return out;
}

const NUMERAL = /\p{N}/u;
const ENDS_IN_NUMERAL = /\p{N}$/u;
const STARTS_WITH_NUMERAL = /^\p{N}/u;
const isApostrophe = (c: string): boolean => c === "'";

/** `s` without the characters at its start and end that `start` and `end` match (a loop: no regex backtracking). */
function trim(s: string, start: (c: string) => boolean, end = start): string {
  let i = 0;
  let j = s.length;
  while (i < j && start(s[i])) i++;
  while (j > i && end(s[j - 1])) j--;
  return s.slice(i, j);
}
