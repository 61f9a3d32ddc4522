/**
 * A prompt's text as the meaning guards read it: one spelling for everything Unicode writes several ways, so
 * that a negation or a number cannot hide behind another code point ("Don’t", "n\u200Bot", "𝐧𝐨𝐭", "−5",
 * "10⁻³", "٥", "５") and the same meaning in two spellings reads the same.
 *
 * - Invisible characters (default-ignorable and format code points: zero-width spaces and joiners, U+FEFF,
 *   the soft hyphen, variation selectors, bidi controls) are removed.
 * - A run of superscript digits and signs is an exponent: `10³` reads `10^3`, `10⁻³` reads `10^-3` (NFKC alone
 *   would make `10³` the number `103`).
 * - Apostrophe look-alikes read `'`; NFKC folds compatibility forms (full-width, mathematical letters and digits,
 *   circled letters, ligatures, the small and full-width minus and plus signs).
 * - Every dash (`\p{Pd}`) and minus sign reads `-`; multiplication and division signs read `*` and `/`.
 * - Every decimal digit of every script (`\p{Nd}`) reads as its ASCII digit.
 * - Lower case.
 */
export function guardText(text: string): string {
  const visible = text.replace(INVISIBLE, '');
  const exponents = visible.replace(SUPERSCRIPT_RUN, (run) => `^${run}`);
  const folded = exponents.replace(APOSTROPHES, "'").normalize('NFKC');
  return folded
    .replace(APOSTROPHES, "'")
    .replace(MINUS, '-')
    .replace(TIMES, '*')
    .replace(DIVIDED, '/')
    .replace(ARABIC_SEPARATORS, (c) => ARABIC_SEPARATOR_OF[c])
    .replace(DIGIT, asciiDigit)
    .replace(CARETS, '^')
    .toLowerCase();
}

/**
 * The text with accents and other combining marks taken off (after `guardText`), for finding words: `n̲o̲t̲`
 * and `nót` read `not`. Numbers are read from `guardText` itself, where a mark can change a sign (`≠`).
 */
export function bareLetters(guarded: string): string {
  return guarded.normalize('NFKD').replace(MARK, '').normalize('NFKC');
}

const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/gu;
/** Superscript digits, plus, minus, equals and parentheses (U+00B2, U+00B3, U+00B9, U+2070–U+207E). */
const SUPERSCRIPT_RUN = /[\u00b2\u00b3\u00b9\u2070\u2074-\u207e]+/gu;
/**
 * Characters written for an apostrophe (Unicode's confusables of U+0027): quotation marks ‘ ’ ‛, primes ′ ‵,
 * modifier letters ʹ ʻ ʼ ʽ ʾ ʿ ˈ ˊ ˋ ˴, the grave and acute accents and their full-width forms, the Greek tonos,
 * koronis, psili, dasia and varia, the Armenian apostrophe and emphasis mark, the Hebrew yod and geresh,
 * the N'Ko high tones, Canadian syllabics ᑊ, the runic ᛌ, and the saltillo. (A combining mark written for
 * one is taken off with the other marks: `don̓t` reads `dont`.)
 */
const APOSTROPHES =
  /[\u0060\u00b4\u02b9\u02bb-\u02bf\u02c8\u02ca\u02cb\u02f4\u0374\u0384\u055a\u055d\u05d9\u05f3\u07f4\u07f5\u144a\u16cc\u1fbd\u1fbf\u1fef\u1ffd\u1ffe\u2018\u2019\u201b\u2032\u2035\ua78b\ua78c\uff07\uff40]/gu;
/** Every dash, and the minus signs that are not dashes (− ˗ ➖ and the superscript and subscript minus). */
const MINUS = /[\p{Pd}\u2212\u02d7\u2796\u207b\u208b]/gu;
const TIMES = /[\u00d7\u2715\u2716\u2a09\u22c5\u2219]/gu;
const DIVIDED = /[\u00f7\u2215\u2044\u2797]/gu;
/** The Arabic decimal and thousands separators and percent sign. */
const ARABIC_SEPARATORS = /[\u066b\u066c\u066a]/gu;
const ARABIC_SEPARATOR_OF: Record<string, string> = { '\u066b': '.', '\u066c': ',', '\u066a': '%' };
const DIGIT = /[^\d\P{Nd}]/gu;
const MARK = /\p{M}/gu;
/** `10^³` is `10^3` too. */
const CARETS = /\^{2,}/g;
const IS_DIGIT = /^\p{Nd}$/u;

/**
 * The ASCII digit of any `\p{Nd}` character. Unicode encodes decimal digits in runs of ten, 0 to 9, and runs
 * of one script may follow each other (the mathematical digits): the value is the character's place in its
 * stretch of consecutive digits, modulo ten.
 */
function asciiDigit(c: string): string {
  let value = DIGIT_VALUE.get(c);
  if (value === undefined) {
    const cp = c.codePointAt(0)!;
    let start = cp;
    while (IS_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    value = String((cp - start) % 10);
    DIGIT_VALUE.set(c, value);
  }
  return value;
}
/** At most one entry per decimal digit Unicode has (under a thousand). */
const DIGIT_VALUE = new Map<string, string>();
