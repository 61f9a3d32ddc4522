/**
 * The spelling class of the guarded routers' paths, for every adapter (Koa's routers, Express's handlers): every
 * router with an access check (the OpenAI-compatible gateway with its API keys, the dashboard with its token or
 * auth function) agrees with its own routes about what a path is. However a path is spelt (letter case,
 * percent-encoding of any character including `/`, doubled or trailing slashes, dot segments, Unicode look-alikes,
 * a custom or nested prefix), a request without the key is either refused (401) or not served (404/405), the
 * provider never sees it, and the same spelling with the key is served exactly when the route matches it.
 * Requests go over real sockets with the path bytes exactly as written (no client normalises them).
 *
 * The app under test serves the same layout in each adapter: the gateway (KEY) at `/v1` through the request's
 * `llm`, with its own engine at `/api/llm` and at `/Api/V2`, and mounted under `/outer` with prefix `/v3` beside
 * the app's own unguarded `GET /outer/open` (answering `open`); the dashboard with a token (DASH) at `/dashboard`,
 * and with an auth function (`x-session: SESSION`) at `/Admin/Dash`.
 */
import http from 'node:http';
import fc from 'fast-check';
import type { FakeLlm } from '../../lib/testing';

export const KEY = 'gateway-key-0123456789';
export const DASH = 'dashboard-token-0123';
export const SESSION = 'admin-session-42';

/** The app serving that layout, on a loopback port. */
export interface SpellingApp {
  port: number;
  fake: FakeLlm;
  close(): Promise<void>;
}

let port: number;
let fake: FakeLlm;

export interface Answer {
  status: number;
  body: string;
}

/**
 * One request with the path sent byte for byte. An event stream is read to its first chunk, then left; anything
 * else to its end.
 */
export function send(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      const done = (): void => resolve({ status: res.statusCode ?? 0, body: text });
      res.setEncoding('utf8');
      if (method !== 'HEAD' && String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.once('data', (c: string) => {
          text = c;
          req.destroy();
          done();
        });
        return;
      }
      res.on('data', (c: string) => (text += c));
      res.on('end', done);
    });
    req.end(payload);
  });
}

/** A route of a guarded router: its canonical path, what to send, what proves it was served, and the key. */
interface Target {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  key: Record<string, string>;
}

const chat = { model: 'default', messages: [{ role: 'user', content: 'hi' }] };
export const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const TARGETS: Target[] = [
  ...['/v1', '/api/llm', '/Api/V2', '/outer/v3'].flatMap((p): Target[] => [
    { name: `gateway ${p}/chat/completions`, method: 'POST', path: `${p}/chat/completions`, body: chat, key: bearer(KEY) },
    { name: `gateway ${p}/chat/completions (stream)`, method: 'POST', path: `${p}/chat/completions`, body: { ...chat, stream: true }, key: bearer(KEY) },
    { name: `gateway ${p}/models`, method: 'GET', path: `${p}/models`, key: bearer(KEY) },
  ]),
  ...['/', '/data', '/feed'].flatMap((r): Target[] => [
    { name: `dashboard (token) /dashboard${r}`, method: 'GET', path: `/dashboard${r}`, key: bearer(DASH) },
    { name: `dashboard (function) /Admin/Dash${r}`, method: 'GET', path: `/Admin/Dash${r}`, key: { 'x-session': SESSION } },
  ]),
];

/** Characters written as their UTF-8 percent-encoding, in either hex case. */
const pct = (ch: string, lower: boolean): string => {
  const hex = [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return lower ? hex.toLowerCase() : hex.toUpperCase();
};
/** Look-alikes that some case-folding rules take for an ASCII letter (Kelvin sign, long s, dotless i, …). */
const LOOKALIKE: Record<string, string> = { k: '\u212a', s: '\u017f', i: '\u0131', K: '\u212a', S: '\u017f', I: '\u0130', a: '\u0430', o: '\u043e', c: '\u0441', e: '\u0435' };

type Op =
  | { kind: 'flip'; at: number }
  | { kind: 'encode'; at: number; lower: boolean }
  | { kind: 'lookalike'; at: number; raw: boolean }
  | { kind: 'double-slash'; at: number }
  | { kind: 'dot'; at: number }
  | { kind: 'dot-dot'; at: number }
  | { kind: 'trailing' }
  | { kind: 'leading' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('encode' as const), at: fc.nat(), lower: fc.boolean() }) },
  fc.record({ kind: fc.constant('lookalike' as const), at: fc.nat(), raw: fc.boolean() }),
  fc.record({ kind: fc.constant('double-slash' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dot' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dot-dot' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('trailing' as const) }),
  fc.record({ kind: fc.constant('leading' as const) }),
);

/** The path as a sequence of "characters as sent": one source character, possibly written as several bytes. */
function respell(path: string, ops: Op[]): string {
  const parts = [...path];
  const slashes = (): number[] => parts.flatMap((p, i) => (p === '/' ? [i] : []));
  for (const o of ops) {
    const n = parts.length;
    switch (o.kind) {
      case 'flip': {
        const i = o.at % n;
        const p = parts[i];
        parts[i] = p === p.toLowerCase() ? p.toUpperCase() : p.toLowerCase();
        break;
      }
      case 'encode': {
        const i = o.at % n;
        if (parts[i].length === 1) parts[i] = pct(parts[i], o.lower);
        break;
      }
      case 'lookalike': {
        const i = o.at % n;
        const alike = LOOKALIKE[parts[i]];
        // a raw character above U+00FF cannot be sent on the wire by Node's client: latin-1 ones go raw
        if (alike) parts[i] = o.raw && alike.charCodeAt(0) <= 0xff ? alike : pct(alike, false);
        break;
      }
      case 'double-slash': {
        const s = slashes();
        parts.splice(s[o.at % s.length], 0, '/');
        break;
      }
      case 'dot': {
        const s = slashes();
        parts.splice(s[o.at % s.length] + 1, 0, '.', '/');
        break;
      }
      case 'dot-dot': {
        const s = slashes();
        parts.splice(s[o.at % s.length] + 1, 0, 'x', '/', '.', '.', '/');
        break;
      }
      case 'trailing':
        parts.push('/');
        break;
      case 'leading':
        parts.unshift('/');
        break;
    }
  }
  return parts.join('');
}

const served = (s: number): boolean => s >= 200 && s < 400;

/** What a request without the key may get, and what must then be true of the same spelling with the key. */
async function checkSpelling(t: Target, spelt: string): Promise<void> {
  const before = fake.stats().requests;
  const anon = await send(t.method, spelt, {}, t.body);
  const anonHead = t.method === 'GET' ? await send('HEAD', spelt, {}) : null;
  // never served (a target that is not a path at all, such as `%2Fv1/…`, is refused by Node's HTTP parser
  // before any app runs: a 400 with no body), and nothing reached the provider
  const refused = (a: Answer): string => (a.status === 401 || a.status === 404 || a.status === 405 || (a.status === 400 && a.body === '') ? 'refused' : `answered ${a.status}`);
  expect({ spelt, anon: refused(anon) }).toEqual({ spelt, anon: 'refused' });
  if (anonHead) expect({ spelt, head: refused(anonHead) }).toEqual({ spelt, head: 'refused' });
  expect({ spelt, upstream: fake.stats().requests - before }).toEqual({ spelt, upstream: 0 });
  expect(anon.body).not.toMatch(/"choices"|"object":"list"|"requests"|<html|event: snapshot|chat\.completion|^extra$/i);
  // the check and the route agree: what the route serves with the key is refused without it, and what the
  // router does not serve is not served with the key either
  const keyed = await send(t.method, spelt, t.key, t.body);
  if (served(keyed.status)) expect({ spelt, status: anon.status }).toEqual({ spelt, status: 401 });
  else expect({ spelt, keyed: keyed.status, anon: anon.status }).toEqual({ spelt, keyed: anon.status === 401 ? expect.any(Number) : anon.status, anon: anon.status });
}

export function describeGuardedSpellings(adapter: string, start: () => Promise<SpellingApp>): void {
  let app: SpellingApp;
  beforeAll(async () => {
    app = await start();
    ({ port, fake } = app);
  });
  afterAll(() => app.close());

  describe(`guarded routers (${adapter}): every spelling of a path is checked or not served`, () => {
    it.each(TARGETS.map((t) => [t.name, t] as const))('%s: case and trailing-slash spellings are served only with the key', async (_n, t) => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.boolean(), { minLength: t.path.length, maxLength: t.path.length }), fc.boolean(), async (upper, trailing) => {
          const spelt = [...t.path].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join('') + (trailing && !t.path.endsWith('/') ? '/' : '');
          const before = fake.stats().requests;
          const anon = await send(t.method, spelt, {}, t.body);
          expect({ spelt, status: anon.status, upstream: fake.stats().requests - before }).toEqual({ spelt, status: 401, upstream: 0 });
          const keyed = await send(t.method, spelt, t.key, t.body);
          expect({ spelt, served: served(keyed.status) }).toEqual({ spelt, served: true });
        }),
        { numRuns: 25 },
      );
    });

    it.each(TARGETS.map((t) => [t.name, t] as const))('%s: any spelling is refused without the key or not served at all', async (_n, t) => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => checkSpelling(t, respell(t.path, ops))),
        { numRuns: 40 },
      );
    });

    it('the known spellings: upper case, %2F and %2f, //, trailing /, /./, /x/../', async () => {
      const spellings = [
        '/V1/CHAT/COMPLETIONS', '/v1/Chat/Completions/', '/v1/chat%2Fcompletions', '/v1/chat%2fcompletions', '/v1//chat/completions',
        '//v1/chat/completions', '/v1/chat/completions//', '/v1/./chat/completions', '/v1/x/../chat/completions', '/%76%31/chat/completions',
        '/API/LLM/CHAT/COMPLETIONS', '/api/llm/chat/completions/', '/api/V2/chat/completions', '/OUTER/V3/CHAT/COMPLETIONS',
      ];
      for (const s of spellings) await checkSpelling(TARGETS[0], s);
      for (const s of ['/DASHBOARD/DATA', '/Dashboard/Feed', '/DASHBOARD', '/dashboard%2Fdata', '/admin/dash/data', '/ADMIN/DASH/FEED/']) {
        await checkSpelling(TARGETS.find((t) => t.path === '/dashboard/data')!, s);
      }
    });

    it('a gateway mounted inside another router guards only its own routes', async () => {
      expect(await send('GET', '/outer/open', {})).toMatchObject({ status: 200, body: 'open' });
    });
  });
}
