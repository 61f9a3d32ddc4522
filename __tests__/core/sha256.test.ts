import { createHash } from 'node:crypto';
import { sha256 } from '../../lib/core/sha256';

describe('sha256', () => {
  it('is the SHA-256 of the text in base64url, for short, long and non-ASCII texts', () => {
    for (const text of ['', 'hi', 'x'.repeat(20_000), 'naïve — 日本語 🙂']) {
      expect(sha256(text)).toBe(createHash('sha256').update(text).digest('base64url'));
    }
  });
});
