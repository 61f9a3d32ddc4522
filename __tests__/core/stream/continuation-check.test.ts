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

/**
 * A partial answer shorter than 12 normalised characters ("Hello wor") is too short to be looked for anywhere in the
 * continuation (a short word is in any text), so a restart after a preamble needs more evidence: the partial answer
 * again, as whole words (or the beginning of its last word when it was cut inside one), where a text may begin anew
 * (after a line break, a colon or the end of a sentence), in a continuation that cannot be one because it opens a
 * new capitalised sentence in the middle of the partial answer's, and that does not go on after the partial answer's
 * words as it went on after the partial answer itself (a name said twice: "New York … New York").
 */
describe('continuationVerdict: a short partial answer restarted after a preamble', () => {
  const capital = (w: string) => w[0].toUpperCase() + w.slice(1);
  // a boundary a preamble may end with before the answer starts again, in several Unicode spellings
  const boundary = fc.constantFrom(': ', ':\n\n', '.\n', '! ', '? ', '. ', '\n', '\uff1a', '\u3002', '\uff01 ', '\u2026 ', ':\n\n**', ': "', '\r\n> ');
  // a preamble: words of the other vocabulary, the first capitalised (possibly full-width)
  const preamble = fc.tuple(sentence(wordB, 1, 8), fc.boolean()).map(([s, wide]) => {
    const first = s[0].toUpperCase();
    return (wide ? String.fromCharCode(first.charCodeAt(0) - 0x21 + 0xff01) : first) + s.slice(1);
  });
  /** A partial answer of 5 to 11 normalised characters cut from `answer` (inside a word or at a word boundary). */
  const shortCut = (answer: string, cut: number): string | null => {
    const ends: number[] = [];
    for (let i = 1; i <= answer.length; i++) {
      const n = normalizeForOverlap(answer.slice(0, i)).length;
      if (n >= 5 && n < 12) ends.push(i);
    }
    return ends.length === 0 ? null : answer.slice(0, ends[cut % ends.length]);
  };
  const zeroWidth = (text: string, every: number) => [...text].map((ch, i) => (i % every === every - 1 && /\p{L}/u.test(ch) ? `${ch}\u200b` : ch)).join('');

  it('is caught, whatever its case, spelling, punctuation, preamble and chunks', () => {
    fc.assert(
      fc.property(
        sentence(wordA, 3, 12).map(capital),
        fc.nat(),
        preamble,
        boundary,
        sentence(wordA, 0, 20),
        fc.integer({ min: 0, max: 5 }),
        fc.context(),
        (answer, cut, pre, sep, rest, zw, ctx) => {
          const delivered = shortCut(answer, cut);
          fc.pre(delivered !== null);
          ctx.log(JSON.stringify({ delivered, pre, sep }));
          return (
            fc.assert(
              fc.property(
                respelled(answer).chain((again) => chunked(`${pre}${sep}${zw > 0 ? zeroWidth(again, zw + 1) : again} ${rest}`)),
                (deltas) => decided(delivered as string, deltas) === 'starts_over',
              ),
              { numRuns: 5 },
            ) === undefined
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it.each([
    ['cut inside a word', 'Hello wor', 'Sorry, here is the full answer again: Hello world, how are you today?'],
    ['cut after a word', 'Hello world, ', 'Sorry, here is the full answer again: Hello world, how are you today?'],
    ['cut after a word, no space', 'Hello world', ' I apologize, my answer was cut off.\n\nHello world, how are you today?'],
    ['full-width and zero-width', 'Hello wor', 'ＳＯＲＲＹ。Ｈｅｌｌｏ ｗｏ\u200bｒｌｄ, how are you today?'],
    ['decomposed accents', 'Café au l', 'Sorry about that! Cafe\u0301 au lait, as I was saying.'],
    ['in capitals', 'Hello wor', 'SORRY, HERE IT IS AGAIN: HELLO WORLD, HOW ARE YOU TODAY?'],
    ['after a long preamble', 'Once upon', 'I am sorry, it seems that my previous answer was cut off before it was finished. Let me start again from the beginning:\n\nOnce upon a time there was a fox.'],
    ['glued to the cut word', 'Hello wor', 'Sure! Hello world, how are you today?'],
  ])('%s: is caught', (_label, partial, continuation) => {
    expect(continuationVerdict(partial, continuation, true)).toBe('starts_over');
    // and never let through while it arrives
    for (let i = 1; i < continuation.length; i++) expect(continuationVerdict(partial, continuation.slice(0, i), false)).not.toBe('continues');
  });

  it('an ordinary continuation that says the partial answer\'s words again is let through, whatever its chunks', () => {
    fc.assert(
      fc.property(sentence(wordA, 3, 12).map(capital), fc.nat(), fc.array(fc.tuple(sentence(wordB, 1, 6), boundary), { minLength: 1, maxLength: 5 }), fc.context(), (answer, cut, parts, ctx) => {
        const delivered = shortCut(answer, cut);
        fc.pre(delivered !== null);
        // it goes on in lower case, as the rest of an unfinished sentence does, and says the opening words again later
        const words = normalizeForOverlap(delivered as string);
        const continuation = parts.map(([s, sep]) => `${s}${sep}${capital(words)} `).join('') + 'and so on';
        ctx.log(JSON.stringify({ delivered, continuation }));
        return fc.assert(fc.property(chunked(continuation), (deltas) => decided(delivered as string, deltas) === 'continues'), { numRuns: 5 }) === undefined;
      }),
      { numRuns: 300 },
    );
  });

  it('a continuation that opens with a name and says the partial answer again followed by that name is let through', () => {
    fc.assert(
      fc.property(sentence(wordA, 2, 6).map(capital), wordB, sentence(wordB, 1, 10), boundary, (answer, name, middle, sep) => {
        // the partial answer ends after a word ("New "), the continuation begins with a name ("York is big. New York …")
        const delivered = `${answer} `;
        fc.pre(normalizeForOverlap(delivered).length >= 5 && normalizeForOverlap(delivered).length < 12);
        const continuation = `${capital(name)} ${middle}${sep}${answer} ${capital(name)} again.`;
        return fc.assert(fc.property(chunked(continuation), (deltas) => decided(delivered, deltas) === 'continues'), { numRuns: 5 }) === undefined;
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a repeat mid-sentence', 'Hello world, ', 'Tom said, and then hello world again, twice.'],
    ['a finished first sentence', 'Hello there! ', 'How are you? Hello there, I said.'],
    ['a partial answer of fewer than 5 characters', 'The ', 'Eiffel Tower is in Paris. The tower is tall.'],
    ['a lower-case continuation', 'The cat ', 'sat on the mat. The cat purred.'],
    ['a name said twice', 'New ', 'York is big. New York has eight million people.'],
    ['the cut word completed as before', 'Hello wor', 'ld! Hello world, again.'],
    ['a partial answer in capitals', 'HELLO WOR', 'LD. HELLO WORLD AGAIN.'],
  ])('%s is not a restart', (_label, partial, continuation) => {
    expect(continuationVerdict(partial, continuation, true)).toBe('continues');
  });

  it('a continuation that cannot be a restart after a preamble is not held back for it', () => {
    // it goes on in lower case: decided at once
    expect(continuationVerdict('Hello wor', 'ld, how', false)).toBe('continues');
    // a capitalised one is held back until the room a preamble may take has gone by, no longer
    const long = 'Tom and Anna walked down to the river to drink, then back up the hill to their den under the old oak, where their three cubs waited for them and for the news of the forest, who had passed by in the night, and what the owl had seen from the top of the tall pine.';
    expect(normalizeForOverlap(long).length).toBeGreaterThan(200);
    expect(continuationVerdict('Hello wor', long.slice(0, 40), false)).toBe('undecided');
    expect(continuationVerdict('Hello wor', long, false)).toBe('continues');
  });
});
