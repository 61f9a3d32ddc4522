/** The check that holds back a continuation until it is known not to start the answer over, on generated texts. */
import fc from 'fast-check';
import { continuationVerdict, normalizeForOverlap } from '../../../lib/core/stream/continuation-check';

const wordFrom = (letters: string) => fc.string({ unit: fc.constantFrom(...letters.split('')), minLength: 1, maxLength: 9 });
// two vocabularies with no letter in common: a continuation in one never repeats a partial answer in the other
const wordA = wordFrom('abcdefghijklm');
const wordB = wordFrom('nopqrstuvwxyz');
const sentence = (word: fc.Arbitrary<string>, min: number, max: number) => fc.array(word, { minLength: min, maxLength: max }).map((ws) => ws.join(' '));

/** The same words in another spelling: case, full-width letters (NFKC-equal), spacing and punctuation between them. */
const respelled = (text: string) =>
  fc
    .tuple(
      fc.array(fc.constantFrom('lower', 'upper', 'fullwidth'), { minLength: text.length, maxLength: text.length }),
      fc.array(fc.constantFrom(' ', '  ', ', ', '\n', ' — ', '... '), { minLength: text.length, maxLength: text.length }),
    )
    .map(([cases, gaps]) =>
      [...text]
        .map((ch, i) => {
          if (ch === ' ') return gaps[i];
          const c = cases[i] === 'upper' ? ch.toUpperCase() : ch;
          return cases[i] === 'fullwidth' ? String.fromCharCode(c.charCodeAt(0) - 0x21 + 0xff01) : c;
        })
        .join(''),
    );

/** Splits a text into the deltas a stream could bring. */
const chunked = (text: string) =>
  fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 200 }).map((sizes) => {
    const out: string[] = [];
    let at = 0;
    for (let i = 0; at < text.length; i++) {
      const n = sizes[i % sizes.length];
      out.push(text.slice(at, at + n));
      at += n;
    }
    return out;
  });

/** The first verdict other than `undecided` as the deltas arrive, then at the end. */
function decided(partial: string, deltas: string[]): 'continues' | 'starts_over' {
  let seen = '';
  for (const d of deltas) {
    seen += d;
    const v = continuationVerdict(partial, seen, false);
    if (v !== 'undecided') return v;
  }
  return continuationVerdict(partial, seen, true) as 'continues' | 'starts_over';
}

describe('continuationVerdict', () => {
  it('a continuation that starts over (respelled, after a short preamble or none, in any chunks) is never let through', () => {
    fc.assert(
      fc.property(
        sentence(wordA, 2, 30).chain((partial) =>
          fc.record({
            partial: fc.constant(partial),
            restart: respelled(partial),
            preamble: fc.option(sentence(wordB, 1, 4), { nil: undefined }),
            rest: sentence(wordA, 0, 20),
            cut: fc.integer({ min: 1, max: 200 }),
          }),
        ),
        fc.context(),
        ({ partial, restart, preamble, rest, cut }, ctx) => {
          // the partial answer delivered: at least its first two words (a model cut anywhere after them)
          const delivered = partial.slice(0, Math.max(partial.indexOf(' ', partial.indexOf(' ') + 1), Math.min(cut, partial.length)));
          // (a preamble before the restart is looked past once the partial answer has 12 characters or more)
          const again = `${preamble && normalizeForOverlap(delivered).length >= 12 ? `${preamble}: ` : ''}${restart} ${rest}`;
          ctx.log(JSON.stringify({ delivered, again }));
          return fc.assert(fc.property(chunked(again), (deltas) => decided(delivered, deltas) === 'starts_over'), { numRuns: 5 }) === undefined;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a continuation that goes back into the partial answer and says its end again (24 characters or more) is one too', () => {
    fc.assert(
      fc.property(fc.array(wordA, { minLength: 6, maxLength: 40 }), fc.nat(), sentence(wordB, 0, 20), (words, pick, rest) => {
        const partial = words.join(' ');
        // the last word start from which at least 24 normalised characters remain, or one before it
        const starts = words.map((_, i) => words.slice(i).join(' ')).filter((t) => t.length >= 24);
        fc.pre(starts.length > 0);
        const tail = starts[pick % starts.length];
        const again = `${tail} ${rest}`;
        return fc.assert(fc.property(respelled(again).chain((r) => chunked(r)), (deltas) => decided(partial, deltas) === 'starts_over'), { numRuns: 5 }) === undefined;
      }),
      { numRuns: 300 },
    );
  });

  it('a real continuation (other words) is let through, whatever its chunks', () => {
    fc.assert(
      fc.property(sentence(wordA, 1, 30), sentence(wordB, 1, 40), fc.boolean(), (partial, next, spaced) => {
        const continuation = (spaced ? ' ' : '') + next;
        return fc.assert(fc.property(chunked(continuation), (deltas) => decided(partial, deltas) === 'continues'), { numRuns: 5 }) === undefined;
      }),
      { numRuns: 300 },
    );
  });

  it('a partial answer cut inside a word is continued by the rest of that word', () => {
    expect(continuationVerdict('Once upon a ti', 'me a small fox lived at the edge of a quiet forest, and every morning she walked to the river.', true)).toBe('continues');
    expect(continuationVerdict('Once upon a ti', 'Once upon a time a small fox', true)).toBe('starts_over');
  });

  it('is undecided while a restart could still be coming, and holds no more than the check needs', () => {
    const partial = 'Once upon a time a small fox lived at the edge of a quiet forest';
    expect(continuationVerdict(partial, ' and', false)).toBe('undecided');
    const long =
      ' and every morning she walked down to the river to drink, then back up the hill to her den under the old oak, where her three cubs waited for her and for the news of the forest: who had passed by in the night, and what the owl had seen.';
    expect(continuationVerdict(partial, long, false)).toBe('continues');
    expect(normalizeForOverlap(long).length).toBeLessThan(260);
    // a long preamble before the restart is still looked past
    const sorry = 'I am sorry, it seems that my previous answer was cut off before it was finished. Let me start again from the beginning, so that you have the whole story in one piece: ';
    expect(continuationVerdict(partial, sorry + partial, false)).toBe('starts_over');
  });

  it.each([
    ['zero-width spaces inside words', 'On\u200bce up\u200don a time a small fox lived at the edge'],
    ['decomposed accents against composed ones', 'Cafe\u0301 au lait for everyone at the little station'],
    ['ß against SS', 'STRASSE NUMBER NINE IS WHERE THE OLD BAKERY STANDS'],
    ['a dotted capital I', 'İSTANBUL WAS THE CITY WHERE THE STORY BEGAN THAT YEAR'],
  ])('a restart with %s is one', (_label, restart) => {
    const partials: Record<string, string> = {
      'zero-width spaces inside words': 'Once upon a time a small fox lived at the edge of a forest',
      'decomposed accents against composed ones': 'Café au lait for everyone at the little station, said the',
      'ß against SS': 'Straße number nine is where the old bakery stands, and',
      'a dotted capital I': 'istanbul was the city where the story began that year, when',
    };
    expect(continuationVerdict(partials[_label], restart, true)).toBe('starts_over');
  });

  it('a partial answer of no words cannot be repeated: nothing is held back', () => {
    expect(continuationVerdict(' ...', 'Anything', false)).toBe('continues');
  });
});
