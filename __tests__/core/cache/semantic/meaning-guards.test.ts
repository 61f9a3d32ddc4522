/**
 * The meaning guards read every Unicode spelling of a prompt alike: a re-spelling of the same meaning (other
 * apostrophes, dashes and minus signs, digits of any script, full-width and mathematical letters, superscript
 * exponents, invisible characters) passes them, and the opposite meaning (a negation added or taken away, a
 * sign flipped, another number, another exponent) never does, in any spelling. Checked on the guards alone
 * and through the engine over real HTTP, with an embedding endpoint that calls every prompt identical.
 */
import fc from 'fast-check';
import { createEngine } from '../../../../lib';
import { guardText } from '../../../../lib/core/cache/semantic/guard-text';
import { meaningMarks, sameMeaningMarks } from '../../../../lib/core/cache/semantic/meaning-guards';
import { startFakeLlm, type FakeLlm } from '../../../../lib/testing';
import { startSameVectorEmbeddings, type SameVectorEmbeddings } from './same-vector-embeddings';

/** Every code point with a property, found by scanning all of Unicode once. */
function codePointsWhere(re: RegExp): string[] {
  const out: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    if (re.test(c)) out.push(c);
  }
  return out;
}

/** The digits 0–9 of every decimal numbering system the platform's Intl knows, by value. */
const INTL_DIGITS: string[][] = Array.from({ length: 10 }, () => []);
for (const system of Intl.supportedValuesOf('numberingSystem')) {
  const format = new Intl.NumberFormat('en', { numberingSystem: system, useGrouping: false });
  const digits = Array.from({ length: 10 }, (_, i) => format.format(i));
  if (digits.every((d) => [...d].length === 1 && /^\p{Nd}$/u.test(d))) digits.forEach((d, i) => INTL_DIGITS[i].push(d));
}
const DASHES = [...codePointsWhere(/^\p{Pd}$/u), '\u2212', '\u02d7', '\u2796'];
const INVISIBLES = codePointsWhere(/^[\p{Default_Ignorable_Code_Point}\p{Cf}]$/u);
const APOSTROPHES = ["'", '\u2019', '\u2018', '\u02bc', '\u2032', '\uff07', '\u201b', '\u02b9', '`', '\u00b4', '\u02bb', '\ua78c', '\u0060', '\u055a', '\u144a', '\u16cc', '\u05d9', '\u02be', '\u07f4', '\u0384'];
const SPACES = [' ', '\u00a0', '\u2009', '\u202f', '\u3000', '\u2002'];
const SUPERSCRIPT: Record<string, string> = { '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻' };
/** NFKC forms of a Latin letter: full-width, bold, sans-serif bold, monospace, circled (upper case, lower case). */
const LETTER_FORMS: [number, number][] = [[0xff21, 0xff41], [0x1d400, 0x1d41a], [0x1d5d4, 0x1d5ee], [0x1d670, 0x1d68a], [0x24b6, 0x24d0]];

const WORDS = ['is', 'it', 'safe', 'to', 'what', 'the', 'value', 'of', 'tell', 'me', 'how', 'much', 'would', 'be', 'cold', 'degrees', 'set', 'limit', 'at', 'use'];
const NEGATION_WORDS = ['not', 'never', 'no', "don't", "isn't", "can't", "won't", "doesn't", 'cannot', 'without', 'nobody', "shouldn't"];

/** A prompt as its meaning: words, an optional negation, and a number with a sign and an optional exponent. */
interface Prompt {
  lead: string[];
  negation: string | null;
  negative: boolean;
  int: number;
  frac: string | null;
  exp: { negative: boolean; value: number } | null;
  tail: string[];
}

const wordsArb = fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 4 });
const expArb = fc.option(fc.record({ negative: fc.boolean(), value: fc.integer({ min: 1, max: 99 }) }), { nil: null });
const promptArb: fc.Arbitrary<Prompt> = fc.record({
  lead: wordsArb,
  negation: fc.option(fc.constantFrom(...NEGATION_WORDS), { nil: null }),
  negative: fc.boolean(),
  int: fc.integer({ min: 1, max: 9999 }),
  frac: fc.option(fc.stringMatching(/^[0-9]{0,2}[1-9]$/), { nil: null }),
  exp: expArb,
  tail: wordsArb,
});

/** The same prompt with one thing about its meaning turned around. */
const oppositeArb = (p: Prompt): fc.Arbitrary<[string, Prompt]> =>
  fc.oneof(
    fc.constantFrom(...NEGATION_WORDS).map((n): [string, Prompt] => ['negation added or taken away', { ...p, negation: p.negation === null ? n : null }]),
    fc.constant<[string, Prompt]>(['sign flipped', { ...p, negative: !p.negative }]),
    fc.integer({ min: 1, max: 9999 }).filter((n) => n !== p.int).map((int): [string, Prompt] => ['another number', { ...p, int }]),
    expArb.filter((e) => JSON.stringify(e) !== JSON.stringify(p.exp)).map((exp): [string, Prompt] => ['another exponent', { ...p, exp }]),
    fc.constant<[string, Prompt]>(['exponent sign flipped', { ...p, exp: p.exp ? { ...p.exp, negative: !p.exp.negative } : { negative: true, value: 3 } }]),
  );

/** A small deterministic random source, so that one generated seed is one spelling (and shrinks to it). */
function randomOf(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** The prompt in plain ASCII. */
function ascii(p: Prompt): string {
  const exp = p.exp ? `^${p.exp.negative ? '-' : ''}${p.exp.value}` : '';
  const number = `${p.negative ? '-' : ''}${p.int}${p.frac ? `.${p.frac}` : ''}${exp}`;
  return [...p.lead, ...(p.negation ? [p.negation] : []), number, ...p.tail].join(' ') + '?';
}

/** The prompt in one of its Unicode spellings (seed 0 is plain ASCII). */
function respell(p: Prompt, seed: number): string {
  if (seed === 0) return ascii(p);
  const pick = randomOf(seed);
  const one = <T>(xs: readonly T[]): T => xs[pick(xs.length)];
  const char = (c: string): string => {
    if (/[a-z]/i.test(c)) {
      const form = pick(LETTER_FORMS.length + 2);
      if (form >= LETTER_FORMS.length) return form === LETTER_FORMS.length ? c.toUpperCase() : c;
      const lower = c.toLowerCase();
      const upper = pick(2) === 0;
      return String.fromCodePoint(LETTER_FORMS[form][upper ? 0 : 1] + lower.charCodeAt(0) - 97);
    }
    if (/[0-9]/.test(c)) return one(INTL_DIGITS[Number(c)]);
    if (c === "'") return one(APOSTROPHES);
    if (c === '-') return one(DASHES);
    if (c === ' ') return one(SPACES);
    return c;
  };
  const exp = p.exp
    ? pick(2) === 0
      ? [...`${p.exp.negative ? '-' : ''}${p.exp.value}`].map((c) => SUPERSCRIPT[c]).join('')
      : `^${[...`${p.exp.negative ? '-' : ''}${p.exp.value}`].map(char).join('')}`
    : '';
  const plain = ascii({ ...p, exp: null });
  const at = plain.lastIndexOf(String(p.frac ? `.${p.frac}` : p.int)) + (p.frac ? p.frac.length + 1 : String(p.int).length);
  let out = '';
  for (const c of plain.slice(0, at)) out += char(c);
  out += exp;
  for (const c of plain.slice(at)) out += char(c);
  // invisible characters anywhere, a negation's letters included
  const chars = [...out];
  for (let n = pick(4); n > 0; n--) chars.splice(pick(chars.length + 1), 0, one(INVISIBLES));
  return chars.join('');
}

const spellingArb = fc.oneof(fc.constant(0), fc.integer({ min: 1 }));

describe('meaning guards', () => {
  it('read every spelling of the same prompt the same', () => {
    fc.assert(
      fc.property(promptArb, spellingArb, spellingArb, (p, s1, s2) => {
        expect(meaningMarks(respell(p, s1))).toEqual(meaningMarks(respell(p, s2)));
      }),
      { numRuns: 3000 },
    );
  });

  it('never pass the opposite meaning, in any spelling', () => {
    const pairArb = promptArb.chain((p) => fc.tuple(fc.constant(p), oppositeArb(p)));
    fc.assert(
      fc.property(pairArb, spellingArb, spellingArb, ([p, [, q]], s1, s2) => {
        expect(sameMeaningMarks(meaningMarks(respell(p, s1)), meaningMarks(respell(q, s2)))).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('read every decimal digit of every script as its value', () => {
    const digits = codePointsWhere(/^\p{Nd}$/u);
    expect(digits.length).toBeGreaterThan(600);
    expect(digits.filter((d) => !/^[0-9]$/.test(guardText(d)))).toEqual([]);
    INTL_DIGITS.forEach((forms, value) => forms.forEach((d) => expect(meaningMarks(`is ${d}${d} cold`)).toEqual(meaningMarks(`is ${value}${value} cold`))));
  });

  it('keep every other numeral apart from none: a number NFKC does not fold into letters still counts', () => {
    const numerals = codePointsWhere(/^\p{N}$/u).filter((n) => !/\p{L}/u.test(n.normalize('NFKC'))); // Ⅻ is XII
    expect(numerals.length).toBeGreaterThan(1500);
    expect(numerals.filter((n) => meaningMarks(`what is ${n} cold`).numbers === '')).toEqual([]);
  });

  it('read any one sign or punctuation mark between n and t as the apostrophe of a contraction', () => {
    const marks = codePointsWhere(/^[\p{P}\p{S}]$/u).filter((c) => !/[\p{L}\p{N}\s]/u.test(c.normalize('NFKC')));
    expect(marks.length).toBeGreaterThan(5000);
    expect(marks.filter((c) => meaningMarks(`I don${c}t know`).negations !== "n't")).toEqual([]);
  });

  it('read every dash and minus sign as a minus, and a superscript exponent as one', () => {
    for (const d of DASHES) expect(meaningMarks(`is ${d}5 cold`)).toEqual(meaningMarks('is -5 cold'));
    expect(meaningMarks('10⁻³')).toEqual(meaningMarks('10^-3'));
    expect(meaningMarks('10³')).toEqual(meaningMarks('10^3'));
    expect(sameMeaningMarks(meaningMarks('10³'), meaningMarks('103'))).toBe(false);
  });

  it('keep a number apart from one with a letter of another script written for its minus', () => {
    const base = meaningMarks('is 5 cold');
    const letters = codePointsWhere(/^\p{L}$/u).filter((c) => /^[^a-z'\s]$/u.test(guardText(c))); // not a-z, nor an apostrophe
    expect(letters.length).toBeGreaterThan(100_000);
    expect(letters.filter((c) => sameMeaningMarks(meaningMarks(`is ${c}5 cold`), base))).toEqual([]);
  });

  it('never take a negation with letters of a Latin-looking script for no negation', () => {
    const lookalikes: Record<string, string[]> = {
      a: ['а', 'α'], c: ['с', 'ϲ'], e: ['е', 'ε'], i: ['і', 'ι'], n: ['ո'], o: ['о', 'ο', 'օ', 'ⲟ'], p: ['р', 'ρ'], s: ['ѕ'], t: ['т', 'τ'], u: ['υ', 'ս'], v: ['ν'], x: ['х', 'χ'], y: ['у'],
    };
    const disguised = (word: string, seed: number): string => {
      const pick = randomOf(seed);
      const out = [...word].map((c) => (lookalikes[c] && pick(2) === 0 ? lookalikes[c][pick(lookalikes[c].length)] : c));
      const at = out.findIndex((c, i) => lookalikes[word[i]] !== undefined);
      if (at >= 0 && out.join('') === word) out[at] = lookalikes[word[at]][0]; // at least one
      return out.join('');
    };
    fc.assert(
      fc.property(promptArb, fc.constantFrom(...NEGATION_WORDS), fc.integer({ min: 1 }), spellingArb, (p, negation, seed, spelling) => {
        const word = disguised(negation, seed);
        fc.pre(word !== negation && /[a-z]/.test(word)); // a word mixing scripts
        const without = meaningMarks(respell({ ...p, negation: null }, spelling));
        expect(sameMeaningMarks(meaningMarks(respell({ ...p, negation: null }, spelling).replace('?', ` ${word}?`)), without)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('never take a negation written in small capitals for no negation', () => {
    const smallCaps: Record<string, string> = {
      a: 'ᴀ', b: 'ʙ', c: 'ᴄ', d: 'ᴅ', e: 'ᴇ', g: 'ɢ', h: 'ʜ', i: 'ɪ', k: 'ᴋ', l: 'ʟ', n: 'ɴ', o: 'ᴏ', p: 'ᴘ', r: 'ʀ', s: 'ꜱ', t: 'ᴛ', u: 'ᴜ', v: 'ᴠ', w: 'ᴡ', y: 'ʏ', z: 'ᴢ',
    };
    fc.assert(
      fc.property(promptArb, fc.constantFrom(...NEGATION_WORDS), fc.integer({ min: 1 }), spellingArb, (p, negation, seed, spelling) => {
        const pick = randomOf(seed);
        const chars = [...negation];
        const always = pick(chars.length);
        const word = chars.map((c, i) => (smallCaps[c] && (i === always || pick(2) === 0) ? smallCaps[c] : c)).join('');
        fc.pre(word !== negation);
        const plain = respell({ ...p, negation: null }, spelling);
        expect(sameMeaningMarks(meaningMarks(plain.replace('?', ` ${word}?`)), meaningMarks(plain))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('take time in proportion to the prompt, whatever it holds', () => {
    const n = 100_000;
    const hostile = [' '.repeat(n) + 'a', '.'.repeat(n) + '5', `5${'.'.repeat(n)}a`, "'".repeat(n) + 'a', `an${'-'.repeat(n)}`, 'an-'.repeat(n / 3), '⁻'.repeat(n), '\u200b'.repeat(n), '5 '.repeat(n / 2)];
    const started = performance.now();
    for (const text of hostile) meaningMarks(text);
    expect(performance.now() - started).toBeLessThan(2000); // about 100 ms; quadratic scanning would take minutes
  });

  it('find a negation behind any invisible character', () => {
    for (const z of INVISIBLES) expect(meaningMarks(`is it n${z}ot safe`).negations).toBe('not');
  });
});

describe('meaning guards in the semantic cache', () => {
  let fake: FakeLlm;
  let embeddings: SameVectorEmbeddings;
  beforeAll(async () => {
    fake = await startFakeLlm();
    embeddings = await startSameVectorEmbeddings();
  });
  afterAll(async () => {
    await fake.close();
    await embeddings.close();
  });

  async function twoPrompts(first: string, second: string): Promise<{ cached: unknown; chats: number }> {
    const e = createEngine({
      models: [{ name: 'main', model: 'm', baseURL: fake.url, apiKey: 'k' }],
      cache: { semantic: { embeddingModel: 'embed', baseURL: embeddings.url, apiKey: 'k' } },
    });
    const before = fake.requests('m').length;
    try {
      await e.complete({ messages: [{ role: 'user', content: first }], temperature: 0 });
      const r = await e.complete({ messages: [{ role: 'user', content: second }], temperature: 0 });
      return { cached: r.cached, chats: fake.requests('m').length - before };
    } finally {
      await e.close();
    }
  }

  it('serve a re-spelling of the same prompt', async () => {
    await fc.assert(
      fc.asyncProperty(promptArb, fc.integer({ min: 1 }), async (p, seed) => {
        expect(await twoPrompts(ascii(p), respell(p, seed))).toEqual({ cached: 'semantic', chats: 1 });
      }),
      { numRuns: 40 },
    );
  });

  it('never serve a prompt with a negation spelled in look-alike letters for one without', async () => {
    expect(await twoPrompts('Is it safe to mix bleach and ammonia?', 'Is it n\u043et safe to mix bleach and ammonia?')).toEqual({ cached: false, chats: 2 });
    expect(await twoPrompts('What is 5 degrees in kelvin?', 'What is \u2cba5 degrees in kelvin?')).toEqual({ cached: false, chats: 2 });
  });

  it('never serve the opposite meaning, in any spelling', async () => {
    const pairArb = promptArb.chain((p) => fc.tuple(fc.constant(p), oppositeArb(p)));
    await fc.assert(
      fc.asyncProperty(pairArb, spellingArb, spellingArb, async ([p, [, q]], s1, s2) => {
        expect(await twoPrompts(respell(p, s1), respell(q, s2))).toEqual({ cached: false, chats: 2 });
      }),
      { numRuns: 80 },
    );
  });
});
