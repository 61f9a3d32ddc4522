import { parseDuration, parseRetryAfterMs } from '../../../lib/core/upstream/retry-after';

const h = (o: Record<string, string>) => new Headers(o);

describe('parseRetryAfterMs', () => {
  it('prefers retry-after-ms, then retry-after seconds', () => {
    expect(parseRetryAfterMs(h({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(parseRetryAfterMs(h({ 'retry-after': '2' }))).toBe(2000);
  });
  it('reads an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
  });
  it('falls back to the longest x-ratelimit-reset-* when it cannot tell which limit was hit', () => {
    expect(parseRetryAfterMs(h({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }))).toBe(360_000);
    expect(parseRetryAfterMs(h({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s', 'x-ratelimit-remaining-requests': '3', 'x-ratelimit-remaining-tokens': '20' }))).toBe(360_000);
  });
  it('takes the reset of the limit that was hit (its x-ratelimit-remaining-* is 0)', () => {
    const both = { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' };
    expect(parseRetryAfterMs(h({ ...both, 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '149000' }))).toBe(1000);
    expect(parseRetryAfterMs(h({ ...both, 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-remaining-tokens': '0' }))).toBe(360_000);
    expect(parseRetryAfterMs(h({ ...both, 'x-ratelimit-remaining-requests': '0' }))).toBe(360_000); // tokens unknown: maybe hit too
    expect(parseRetryAfterMs(h({ 'x-ratelimit-reset-tokens': '20ms', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-remaining-requests': '0' }))).toBe(20);
  });
  it('returns undefined when nothing usable is there', () => {
    expect(parseRetryAfterMs(h({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['20ms', 20],
    ['1s', 1000],
    ['1.5s', 1500],
    ['1h2m3s', 3_723_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it('rejects junk', () => {
    expect(parseDuration('1x')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
});
