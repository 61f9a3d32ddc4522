/**
 * Guards against near-identical prompts with different meaning, which embeddings place close together:
 * a negation present in one and not the other ("is it safe" / "is it not safe"), or different numbers
 * ("2 + 2" / "2 + 3"). A candidate that fails a guard is never a hit, however similar.
 */
const NEGATIONS = new Set([
  'not', 'no', 'never', 'none', 'nobody', 'nothing', 'neither', 'nor', 'without', 'cannot', 'cant', "can't",
  "don't", 'dont', "doesn't", 'doesnt', "isn't", 'isnt', "aren't", 'arent', "wasn't", 'wasnt', "weren't",
  "won't", 'wont', "wouldn't", "shouldn't", "couldn't", "didn't", 'didnt', "haven't", "hasn't", "hadn't",
  'except', 'excluding', 'unless', 'nicht', 'kein', 'pas', 'jamais', 'nunca',
]);

export interface MeaningMarks {
  negations: string;
  numbers: string;
}

export function meaningMarks(text: string): MeaningMarks {
  const words = text.toLowerCase().match(/[\p{L}']+/gu) ?? [];
  const negations = words.filter((w) => NEGATIONS.has(w) || w.endsWith("n't")).map((w) => (w.endsWith("n't") ? "n't" : w));
  const numbers = text.match(/\d+(?:[.,]\d+)?/g) ?? [];
  return { negations: negations.sort().join(' '), numbers: numbers.join(' ') };
}

export function sameMeaningMarks(a: MeaningMarks, b: MeaningMarks): boolean {
  return a.negations === b.negations && a.numbers === b.numbers;
}
