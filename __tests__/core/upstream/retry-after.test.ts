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
  it('falls back to the longest x-ratelimit-reset-*', () => {
    expect(parseRetryAfterMs(h({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }))).toBe(360_000);
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
