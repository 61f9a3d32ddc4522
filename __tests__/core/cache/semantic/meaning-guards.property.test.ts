/**
 * The semantic cache's meaning guards compare prompts in one canonical spelling: a Unicode re-spelling of a prompt
 * keeps its meaning marks, and a prompt of the opposite meaning, however it is spelt, never has the same marks.
 */
import fc from 'fast-check';
import { guardText } from '../../../../lib/core/cache/semantic/guard-text';
import { meaningMarks, sameMeaningMarks } from '../../../../lib/core/cache/semantic/meaning-guards';

/** The zero of every decimal-digit script Unicode has (each script's digits are ten consecutive code points). */
const DIGIT_ZEROS: number[] = [];
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (/\p{Nd}/u.test(String.fromCodePoint(cp)) && !/\p{Nd}/u.test(String.fromCodePoint(cp - 1))) {
    for (let z = cp; /\p{Nd}/u.test(String.fromCodePoint(z)); z += 10) DIGIT_ZEROS.push(z);
  }
}
const APOSTROPHES = ["'", '\u2019', '\u2018', '\u02BC', '\u2032', '\uFF07', '\u201B', '`', '\u00B4'];
const MINUSES = ['-', '\u2212', '\u2013', '\u2014', '\u2010', '\u2011', '\u2012', '\uFE63', '\uFF0D'];
const INVISIBLES = ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u00AD'];
const SUPER: Record<string, string> = { '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻', '+': '⁺' };

/**
 * A re-spelling of `text` with the same meaning: digits in any script, apostrophes and minus signs in any variant,
 * Latin letters full-width or in another case, invisible characters inside words, `^n` as superscripts.
 */
const respelling = (text: string): fc.Arbitrary<string> =>
  fc
    .record({
      seed: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
      superscripts: fc.boolean(),
    })
    .map(({ seed, superscripts }) => {
      let i = 0;
      const pick = <T>(xs: readonly T[]): T => xs[seed[i++ % seed.length] % xs.length];
      const coin = (): boolean => seed[i++ % seed.length] % 2 === 0;
      let t = superscripts ? text.replace(/\^([-+]?\d+)/g, (_m, e: string) => [...e].map((c) => SUPER[c]).join('')) : text;
      t = [...t]
        .map((c) => {
          if (/[0-9]/.test(c)) return String.fromCodePoint(pick(DIGIT_ZEROS) + Number(c));
          if (c === "'") return pick(APOSTROPHES);
          if (c === '-') return pick(MINUSES);
          if (/[a-zA-Z]/.test(c)) {
            const cased = coin() ? c.toUpperCase() : c.toLowerCase();
            const wide = coin() ? String.fromCodePoint(cased.codePointAt(0)! - 0x21 + 0xff01) : cased;
            return coin() ? wide + pick(INVISIBLES) : wide;
          }
          return c;
        })
        .join('');
      return t;
    });

/** Prompts with something whose opposite changes the meaning, and that opposite. */
const opposite = fc.oneof(
  fc.constantFrom('is it safe to mix these', 'do they allow pets', 'can I eat this', 'does it work on Sundays', 'should I sign it').map(
    (q) => [q, q.replace(/^(is|do|can|does|should)\b/, (w) => `${w === 'can' ? "can't" : w === 'is' ? "isn't" : `${w}n't`}`)] as const,
  ),
  fc.constantFrom('is it safe to mix these', 'will it rain tomorrow').map((q) => [q, q.replace(/ (safe|rain)/, " not $1")] as const),
  fc.integer({ min: 1, max: 99999 }).map((n) => [`what is ${n} squared`, `what is -${n} squared`] as const),
  fc.tuple(fc.integer({ min: 2, max: 20 }), fc.integer({ min: 1, max: 30 })).map(([b, e]) => [`what is ${b}^${e}`, `what is ${b}^-${e}`] as const),
  fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 9999 })).map(([a, d]) => [`convert ${a} meters`, `convert ${a + d} meters`] as const),
  fc.tuple(fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 99 })).map(([a, b]) => [`what is ${a} + ${b}`, `what is ${a} - ${b}`] as const),
);

describe('meaning guards', () => {
  it('a re-spelling of the same prompt (any digit script, apostrophe, minus, width, case, invisible characters, superscript) keeps its marks', () => {
    fc.assert(
      fc.property(opposite.chain(([a, b]) => fc.tuple(fc.constantFrom(a, b), fc.constant(null)).chain(([p]) => fc.tuple(fc.constant(p), respelling(p)))), ([plain, respelt]) => {
        expect(meaningMarks(respelt)).toEqual(meaningMarks(plain));
      }),
      { numRuns: 500 },
    );
  });

  it('a prompt of the opposite meaning, each spelt any way, never has the same marks', () => {
    fc.assert(
      fc.property(opposite.chain(([a, b]) => fc.tuple(respelling(a), respelling(b))), ([a, b]) => {
        expect(sameMeaningMarks(meaningMarks(a), meaningMarks(b))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a negation written with look-alike Cyrillic or Greek letters, and reads a superscript exponent as an exponent, not a longer number', () => {
    const safe = meaningMarks('is it safe');
    expect(sameMeaningMarks(meaningMarks('is it n\u043Et safe'), safe)).toBe(false); // Cyrillic о
    expect(sameMeaningMarks(meaningMarks('is it n\u03BFt safe'), safe)).toBe(false); // Greek ο
    expect(sameMeaningMarks(meaningMarks('what is 10³'), meaningMarks('what is 103'))).toBe(false);
    expect(sameMeaningMarks(meaningMarks('what is 10³'), meaningMarks('what is 10^3'))).toBe(true);
    expect(guardText('Don\u2019t').toLowerCase()).toBe("don't");
  });
});
