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

  it('the median maxTokens matches a from-scratch sort of the last `size` samples that had one, across wrap-around', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined })), { maxLength: 60 }),
        (size, samples) => {
          const w = new LatencyWindow(size);
          const seen: (number | undefined)[] = [];
          for (const [latency, maxTokens] of samples) {
            w.add(latency, maxTokens);
            seen.push(maxTokens);
            const withTokens = seen.slice(-size).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
            expect(w.medianMaxTokens()).toBe(withTokens.length === 0 ? undefined : withTokens[Math.floor(withTokens.length / 2)]);
          }
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
