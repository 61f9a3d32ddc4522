/**
 * Guards against near-identical prompts with different meaning, which embeddings place close together:
 * a negation present in one and not the other ("is it safe" / "is it not safe"), different numbers ("2 + 2" /
 * "2 + 3"), a sign or an operator ("-5" / "5", "10^-3" / "10^3"). A candidate that fails a guard is never a hit,
 * however similar.
 *
 * Both prompts are compared in one canonical spelling (`canonicalText`), so Unicode cannot hide a difference or
 * make one up: NFKC (full-width letters and digits, ligatures), every decimal digit of any script as its value,
 * apostrophe and minus/dash variants as `'` and `-`, superscript exponents as `^`, invisible format characters
 * (zero-width space, soft hyphen, BOM) removed, and the Cyrillic and Greek letters that look like Latin ones read
 * as those.
 */
const NEGATIONS = new Set([
  'not', 'no', 'never', 'none', 'nobody', 'nothing', 'neither', 'nor', 'without', 'cannot', 'cant', "can't",
  "don't", 'dont', "doesn't", 'doesnt', "isn't", 'isnt', "aren't", 'arent', "wasn't", 'wasnt', "weren't",
  "won't", 'wont', "wouldn't", "shouldn't", "couldn't", "didn't", 'didnt', "haven't", "hasn't", "hadn't",
  'except', 'excluding', 'unless', 'nicht', 'kein', 'pas', 'jamais', 'nunca',
]);
/** Words that give a number its sign. */
const SIGN_WORDS = new Set(['minus', 'negative', 'plus', 'positive']);

export interface MeaningMarks {
  negations: string;
  numbers: string;
}

export function meaningMarks(text: string): MeaningMarks {
  const canonical = canonicalText(text);
  const words = canonical.toLowerCase().match(/[\p{L}']+/gu) ?? [];
  const negations = words
    .filter((w) => NEGATIONS.has(w) || w.endsWith("n't") || SIGN_WORDS.has(w))
    .map((w) => (w.endsWith("n't") ? "n't" : w));
  // each number with the signs and operators written right before it: "-5", "^-3", "+2", "*4"
  const numbers = (canonical.match(/(?:[-+*/^×÷=<>%]\s*)*\d+(?:[.,]\d+)*(?:e[-+]?\d+)?/giu) ?? []).map((n) => n.replace(/\s+/g, '').toLowerCase());
  return { negations: negations.sort().join(' '), numbers: numbers.join(' ') };
}

export function sameMeaningMarks(a: MeaningMarks, b: MeaningMarks): boolean {
  return a.negations === b.negations && a.numbers === b.numbers;
}

/** Superscript digits and signs (before NFKC, which would make `10³` the number `103`). */
const SUPERSCRIPTS: Record<string, string> = {
  '⁰': '0', '¹': '1', '²': '2', '³': '3', '⁴': '4', '⁵': '5', '⁶': '6', '⁷': '7', '⁸': '8', '⁹': '9', '⁺': '+', '⁻': '-',
};
const SUPERSCRIPT_RUN = /[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+/gu;
/** Apostrophes and the marks typed for them. */
const APOSTROPHES = /[\u2018\u2019\u201A\u201B\u02B9\u02BB\u02BC\u02BD\u02BE\u02C8\u0060\u00B4\u2032\u2035\uFF07\uA78C]/gu;
/** Minus signs, hyphens and dashes (each of them also writes a minus). */
const MINUSES = /[\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2796\uFE58\uFE63\uFF0D\u02D7\u2E3A\u2E3B]/gu;
/** Invisible characters a word can be split with: format characters (zero-width, soft hyphen, BOM, bidi marks). */
const INVISIBLE = /[\p{Cf}\u034F\u115F\u1160\u3164\uFFA0]/gu;
/** Cyrillic and Greek letters that look like Latin ones (a word such as "nоt" with a Cyrillic о is still "not"). */
const LOOKALIKES: Record<string, string> = {
  'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w',
  'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S',
  'ο': 'o', 'ν': 'v', 'α': 'a', 'ι': 'i', 'κ': 'k', 'τ': 't', 'υ': 'u', 'ρ': 'p',
  'Ο': 'O', 'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
};
const LOOKALIKE = new RegExp(`[${Object.keys(LOOKALIKES).join('')}]`, 'gu');
const NON_ASCII_DIGIT = /[^\P{Nd}0-9]/gu;

/** The text in the one spelling the guards compare (see the module's comment). */
export function canonicalText(text: string): string {
  // apostrophes first: NFKC would make some of them (´) a space and a combining accent
  let t = text.replace(INVISIBLE, '').replace(APOSTROPHES, "'");
  t = t.replace(SUPERSCRIPT_RUN, (run) => `^${[...run].map((c) => SUPERSCRIPTS[c]).join('')}`);
  t = t.normalize('NFKC');
  t = t.replace(INVISIBLE, '');
  t = t.replace(APOSTROPHES, "'").replace(MINUSES, '-');
  t = t.replace(NON_ASCII_DIGIT, (d) => String(digitValue(d.codePointAt(0) as number)));
  return t.replace(LOOKALIKE, (c) => LOOKALIKES[c]);
}

/**
 * The value of a decimal digit of any script. Unicode keeps every script's digits 0–9 in a run of consecutive code
 * points starting with its zero, so a digit's value is its distance from the start of its run, modulo 10 (runs of
 * several styles, as the mathematical digits, follow each other). The runs are found once, when first needed.
 */
function digitValue(cp: number): number {
  let start = digitRunStart.get(cp);
  if (start === undefined) {
    start = cp;
    while (start > 0 && /\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--;
    digitRunStart.set(cp, start);
  }
  return (cp - start) % 10;
}
const digitRunStart = new Map<number, number>();
