import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * The gateway's key check: whether an `Authorization` header carries `Bearer <one of keys>`. Keys are compared as
 * SHA-256 digests in constant time, every key each time (no early exit), so timing tells nothing about them.
 */
export function apiKeyCheck(keys: readonly string[]): (authorization: string | undefined) => boolean {
  const keyDigests = keys.map(digest);
  return (authorization) => {
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (!m) return false;
    const got = digest(m[1].trim());
    let ok = false;
    for (const d of keyDigests) ok = timingSafeEqual(got, d) || ok; // no early exit
    return ok;
  };
}
