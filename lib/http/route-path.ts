/**
 * A router prefix served as written: '' or a path that starts with `/` and does not end with one (`'v1'` would
 * make every route unreachable, `'/'` or `'/v1/'` would double the slash before each route).
 */
export function prefixProblem(prefix: unknown): string | null {
  if (prefix === undefined || prefix === '') return null;
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix.endsWith('/') || /[\s?#]/.test(prefix)) {
    return "must be '' or a path that starts with '/' and does not end with one (e.g. '/v1')";
  }
  return null;
}

/** The path of a request target, as sent (not decoded): what comes before `?`. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** The query string of a request target, without its `?` ('' when there is none). */
export function queryOf(url: string | undefined): string {
  const target = url ?? '';
  const q = target.indexOf('?');
  return q === -1 ? '' : target.slice(q + 1);
}

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const withoutTrailingSlash = (s: string): string => (s.length > 1 && s.endsWith('/') ? s.slice(0, -1) : s);

/**
 * Which of `routes` (paths under `prefix`) the request path names, as @koa/router and Express match by default:
 * ASCII letter case ignored, one trailing `/` allowed, nothing decoded or normalised (`%2F`, `//`, `/./` name no
 * route). Null when none: an adapter serves exactly the paths this returns a route for, and checks access there.
 */
export function matchRoute<R extends string>(path: string, prefix: string, routes: readonly R[]): R | null {
  const got = asciiLower(withoutTrailingSlash(path));
  for (const r of routes) {
    if (asciiLower(withoutTrailingSlash(`${prefix}${r}`)) === got) return r;
  }
  return null;
}

/**
 * Whether the request path lies under `prefix` as the adapters' routers see it: `prefix/` followed by anything,
 * ASCII letter case ignored, nothing decoded (as `<prefix>/{*rest}` matches in @koa/router). Never true for an
 * empty prefix: a router mounted at the root owns no path space beyond its own routes.
 */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '') return false;
  return asciiLower(path).startsWith(`${asciiLower(prefix)}/`);
}

/**
 * The parameter of a one-parameter route `prefix + base + '/:param'` (e.g. `/models/:id`), as @koa/router matches
 * it: letter case ignored outside the parameter, one trailing `/` allowed, the parameter one non-empty path
 * segment, percent-decoded (kept as sent when it is not valid percent-encoding). Null when the path is not that route.
 */
export function matchParamRoute(path: string, prefix: string, base: string): string | null {
  const head = `${asciiLower(prefix)}${asciiLower(base)}/`;
  if (!asciiLower(path).startsWith(head)) return null;
  const rest = withoutTrailingSlash(path.slice(head.length));
  if (rest === '' || rest === '/' || rest.includes('/')) return null;
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest;
  }
}

/** An `Allow` header value: the methods in a fixed order (GET, HEAD, POST, then the rest as given), once each. */
export function allowHeader(methods: Iterable<string>): string {
  const order = ['GET', 'HEAD', 'POST'];
  const set = [...new Set(methods)];
  return [...order.filter((m) => set.includes(m)), ...set.filter((m) => !order.includes(m))].join(', ');
}
