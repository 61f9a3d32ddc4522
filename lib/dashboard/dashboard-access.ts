import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** What the dashboard's adapters read of a request to check a `{ token }`. */
export interface TokenSources {
  /** The `token` query parameter when it is there once (repeated or missing: undefined). */
  queryToken: string | undefined;
  authorization: string | undefined;
}

/**
 * Who may see the dashboard: with no `auth`, anyone; with `{ token }`, a request carrying it as `?token=` or
 * `Authorization: Bearer` (compared in constant time); with a function of the adapter's request (it may look a
 * session up, async), a request it answers `true` for, and only `true`: a throw or a rejection keeps out.
 */
export function dashboardAccess<Req>(auth: { token: string } | ((req: Req) => boolean | Promise<boolean>) | undefined, tokens: (req: Req) => TokenSources): (req: Req) => Promise<boolean> {
  if (auth === undefined) return async () => true;
  if (typeof auth === 'function') return async (req) => (await Promise.resolve().then(() => auth(req)).catch(() => false)) === true;
  const want = digest(auth.token);
  return async (req) => {
    const t = tokens(req);
    const given = t.queryToken ?? /^Bearer\s+(.+)$/i.exec(t.authorization ?? '')?.[1] ?? '';
    return timingSafeEqual(digest(given), want);
  };
}

/** The answer to a request the check keeps out. */
export const DASHBOARD_DENIED: Readonly<{ status: 401; body: { error: { message: string } } }> = Object.freeze({ status: 401, body: { error: { message: 'dashboard access denied' } } });

/** The page's Content-Security-Policy: its own inline script and style, nothing from elsewhere. */
export const DASHBOARD_CSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:";
