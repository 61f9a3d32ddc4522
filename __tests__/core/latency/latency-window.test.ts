import fc from 'fast-check';
import { LatencyWindow } from '../../../lib/core/latency/latency-window';

/** The reference: nearest-rank percentile over the last `size` samples, sorted from scratch. */
function naive(samples: number[], size: number, p: number): number | undefined {
  const last = samples.slice(-size).sort((a, b) => a - b);
  if (last.length === 0) return undefined;
  return last[Math.min(last.length - 1, Math.max(0, Math.ceil((p / 100) * last.length) - 1))];
}

describe('LatencyWindow', () => {
  it('percentiles match a from-scratch sort of the last `size` samples, across ring wrap-around and duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 5000, noNaN: true })), { maxLength: 60 }),
        fc.constantFrom(0, 1, 50, 90, 95, 99, 100),
        (size, samples, p) => {
          const w = new LatencyWindow(size);
          const seen: number[] = [];
          for (const s of samples) {
            w.add(s, undefined);
            seen.push(s);
            expect(w.percentile(p)).toBe(naive(seen, size, p));
          }
          expect(w.count).toBe(Math.min(size, samples.length));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is empty until the first sample', () => {
    const w = new LatencyWindow(3);
    expect(w.percentile(50)).toBeUndefined();
    w.add(7, 100);
    expect(w.percentile(50)).toBe(7);
    expect(w.medianMaxTokens()).toBe(100);
  });
});
