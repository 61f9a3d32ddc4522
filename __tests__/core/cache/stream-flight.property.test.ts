/**
 * The broadcast of a stream's call, for any answer and any moments at which identical streams join it: every
 * follower receives exactly the pieces of the one call, in order, whenever it joined (in-memory provider).
 */
import fc from 'fast-check';
import { createEngine } from '../../../lib';
import { memoryProvider } from '../../../lib/testing';

const word = fc.stringMatching(/^[a-zA-Z0-9]{1,7}$/);
const space = fc.constantFrom(' ', '  ', '\n', ' \t');

describe('streams following one call', () => {
  it('every follower gets the same pieces as the stream that made the call, wherever it joined', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(word, space), { minLength: 2, maxLength: 14 }),
        fc.array(fc.nat(14), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 6 }),
        async (parts, joinAfter, chunkChars) => {
          const text = parts.map(([w, s]) => w + s).join('') + 'end';
          const mem = memoryProvider({ fallback: { text }, chunkChars, chunkDelayMs: 1 });
          const engine = createEngine({ models: [{ name: 'mem', model: 'mem-1', provider: mem }], cache: {} });
          try {
            const request = { messages: [{ role: 'user' as const, content: 'the same question' }], temperature: 0 };
            const runs: Promise<{ pieces: string[]; cached: boolean | 'semantic' }>[] = [];
            const pending = [...joinAfter].sort((a, b) => a - b);
            const run = async (onPiece?: (count: number) => void): Promise<{ pieces: string[]; cached: boolean | 'semantic' }> => {
              const s = engine.stream(request);
              const pieces: string[] = [];
              for await (const p of s) {
                pieces.push(p);
                onPiece?.(pieces.length);
              }
              return { pieces, cached: (await s.result).cached };
            };
            const join = (count: number): void => {
              while (pending.length > 0 && pending[0] <= count) {
                pending.shift();
                runs.push(run());
              }
            };
            join(0);
            runs.push(run(join));
            const ends = await Promise.all(runs);
            for (const e of ends) expect(e.pieces.join('')).toBe(text);
            // every stream that was not a cache hit took part in the one call: it got exactly the call's pieces
            const live = ends.filter((e) => e.cached === false);
            expect(live.length).toBeGreaterThanOrEqual(1);
            for (const e of live) expect(e.pieces).toEqual(live[0].pieces);
            expect(mem.calls.length).toBe(1);
          } finally {
            await engine.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
