/** The GCRA arithmetic of the tenant limits, and the per-process limiter built on it. */
import fc from 'fast-check';
import { gcraStep, limitState, LocalGcra, type LimitSpec } from '../../../lib/core/limits/gcra';

const perMinute = (limit: number, cost = 1): LimitSpec => ({ windowMs: 60_000, limit, cost });

describe('gcraStep', () => {
  it('admits a whole window\'s worth at once, then refuses, and says when the next unit is back', () => {
    const local = new LocalGcra();
    const now = 1_000_000;
    for (let i = 0; i < 5; i++) expect(local.apply('take', ['k'], [perMinute(5)], now).allowed).toBe(true);
    const refused = local.apply('take', ['k'], [perMinute(5)], now);
    expect(refused).toMatchObject({ allowed: false, worst: 0 });
    expect(refused.retryMs).toBeCloseTo(12_000, 3); // one unit every 60 s / 5
    expect(limitState(perMinute(5), refused.tats[0], now)).toEqual({ remaining: 0, resetMs: 60_000 });
    // 12 s later exactly one more is admitted
    expect(local.apply('take', ['k'], [perMinute(5)], now + 12_000).allowed).toBe(true);
    expect(local.apply('take', ['k'], [perMinute(5)], now + 12_000).allowed).toBe(false);
  });

  it('takes every limit or none: a refused limit leaves the others untouched', () => {
    const local = new LocalGcra();
    const now = 5_000_000;
    expect(local.apply('take', ['r', 't'], [perMinute(10), perMinute(100, 100)], now).allowed).toBe(true);
    const refused = local.apply('take', ['r', 't'], [perMinute(10), perMinute(100, 1)], now);
    expect(refused).toMatchObject({ allowed: false, worst: 1 });
    expect(limitState(perMinute(10), refused.tats[0], now).remaining).toBe(9); // the request was not counted
  });

  it('a settlement gives back what was not used, never below nothing, or adds what was used beyond the estimate', () => {
    const local = new LocalGcra();
    const now = 9_000_000;
    local.apply('take', ['t'], [perMinute(100, 80)], now);
    local.apply('give', ['t'], [perMinute(100, -500)], now);
    expect(local.size).toBe(0); // nothing held
    local.apply('take', ['t'], [perMinute(100, 10)], now);
    local.apply('give', ['t'], [perMinute(100, 150)], now); // a debt: 160 used of 100
    expect(local.apply('take', ['t'], [perMinute(100, 1)], now).allowed).toBe(false);
  });

  it('never admits more than the limit over any window, whatever the costs and times (generated)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 5_000 }), cost: fc.integer({ min: 1, max: 10 }) }), { minLength: 1, maxLength: 200 }),
        (limit, steps) => {
          const local = new LocalGcra();
          let now = 1_000_000;
          const admitted: { at: number; cost: number }[] = [];
          for (const s of steps) {
            now += s.gap;
            const cost = Math.min(s.cost, limit);
            if (local.apply('take', ['k'], [perMinute(limit, cost)], now).allowed) admitted.push({ at: now, cost });
          }
          // GCRA's bound: over any interval of length d, at most limit + d / interval units
          for (const a of admitted) {
            const inWindow = admitted.filter((b) => b.at >= a.at && b.at < a.at + 60_000).reduce((n, b) => n + b.cost, 0);
            expect(inWindow).toBeLessThanOrEqual(2 * limit);
          }
          const within = (from: number, to: number) => admitted.filter((b) => b.at >= from && b.at <= to).reduce((n, b) => n + b.cost, 0);
          for (const a of admitted) expect(within(a.at, a.at)).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the pure step and the per-process limiter agree (generated)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 50 }), (costs) => {
        const local = new LocalGcra();
        let tats = [0];
        const now = 2_000_000;
        for (const c of costs) {
          const a = gcraStep('take', [perMinute(7, c)], tats, now);
          const b = local.apply('take', ['k'], [perMinute(7, c)], now);
          expect(b.allowed).toBe(a.allowed);
          if (a.allowed) tats = [...a.tats];
        }
      }),
    );
  });
});
