import { Cooldowns } from '../../../lib/core/fallback/cooldowns';

describe('Cooldowns', () => {
  it('uses the provider\'s wait, capped, and the default without one', () => {
    const c = new Cooldowns(1000, 5000);
    expect(c.start('a', 2000, 0)).toBe(2000);
    expect(c.start('b', 60_000, 0)).toBe(5000);
    expect(c.start('c', undefined, 0)).toBe(1000);
    expect(c.until('a', 1999)).toBe(2000);
    expect(c.until('a', 2000)).toBeNull();
  });
  it('never has more than the cap left, even after the system clock steps back', () => {
    const c = new Cooldowns(1000, 5000);
    c.start('a', 5000, 1_000_000); // ends at 1 005 000
    // the clock steps back an hour: the cool-down keeps at most its cap, not the hour
    expect(c.until('a', 1_000_000 - 3_600_000)).toBe(1_000_000 - 3_600_000 + 5000);
    expect(c.until('a', 1_000_000 - 3_600_000 + 5000)).toBeNull();
  });

  it('never shortens a running cool-down', () => {
    const c = new Cooldowns(1000, 60_000);
    c.start('a', 10_000, 0);
    c.start('a', 100, 0);
    expect(c.until('a', 5000)).toBe(10_000);
  });
});
