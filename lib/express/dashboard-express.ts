import type { IncomingMessage, ServerResponse } from 'node:http';
import { dashboardAccess, DASHBOARD_CSP, DASHBOARD_DENIED } from '../dashboard/dashboard-access';
import { runDashboardFeed } from '../dashboard/dashboard-feed';
import { checkDashboardOptions, DASHBOARD_ROUTES, type DashboardBaseOptions } from '../dashboard/dashboard-options';
import { DASHBOARD_PAGE } from '../dashboard/dashboard-page';
import { dashboardSnapshots } from '../dashboard/dashboard-snapshot';
import { openNodeEventStream, sendAnswer } from '../http/node-response';
import { matchRoute, pathOf, queryOf } from '../http/route-path';
import { OPTION_DEFAULTS } from '../core/options/option-defaults';

/** Options of `dashboardExpress()`: those of `dashboardRouter()`, with `auth`'s function given the Node request. */
export interface DashboardExpressOptions extends DashboardBaseOptions {
  /**
   * Who may see it: `{ token }` (sent as `?token=` or `Authorization: Bearer`, compared in constant time) or a
   * function of the request. Default: anyone who can reach the route — mount it behind your own auth.
   */
  auth?: { token: string } | ((req: IncomingMessage) => boolean | Promise<boolean>);
}

type Next = (err?: unknown) => void;

/** A Node `(req, res, next)` handler: `app.use(dashboard)` in Express, or any stack of that shape. */
export type DashboardExpressHandler = <Req extends IncomingMessage, Res extends ServerResponse>(req: Req, res: Res, next?: Next) => void;

/** The one `token` query parameter (repeated or missing: undefined). */
function queryToken(url: string | undefined): string | undefined {
  const all = new URLSearchParams(queryOf(url)).getAll('token');
  return all.length === 1 ? all[0] : undefined;
}

/**
 * The live dashboard for Express (or any Node `(req, res, next)` stack): the page at `<prefix>/`, its JSON
 * snapshot at `<prefix>/data` and the SSE feed at `<prefix>/feed`, with the options, data and access check of
 * `dashboardRouter()`. It routes by itself as Express does by default (letter case ignored, one trailing `/`
 * allowed, under whatever path the app mounts it at) and checks access in the same place, so no spelling of its
 * paths gets around the check; anything else goes to `next()`. A browser leaving the feed is normal: nothing
 * reaches Express's error handling. Throws `ConfigError` listing every bad option.
 */
export function dashboardExpress(options: DashboardExpressOptions): DashboardExpressHandler {
  checkDashboardOptions(options);
  const engine = options.llm.engine;
  const intervalMs = options.intervalMs ?? OPTION_DEFAULTS.dashboard.intervalMs;
  const prefix = options.prefix ?? OPTION_DEFAULTS.dashboard.prefix;
  const snapshot = dashboardSnapshots(engine);
  const allowed = dashboardAccess(options.auth, (req: IncomingMessage) => ({ queryToken: queryToken(req.url), authorization: req.headers.authorization }));

  const serve = (route: (typeof DASHBOARD_ROUTES)[number], req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('Cache-Control', 'no-store');
    if (route === '/data') return sendAnswer(res, { status: 200, body: snapshot() });
    if (route === '/feed') {
      const out = openNodeEventStream(res);
      if (req.method === 'HEAD') return out.end();
      return runDashboardFeed(engine, snapshot, intervalMs, res, out);
    }
    const path = pathOf(req.url);
    if (!path.endsWith('/')) {
      // the page uses relative URLs: make sure they resolve under the prefix (and under the app's mount path)
      const mounted = pathOf((req as { originalUrl?: string }).originalUrl ?? req.url);
      const query = queryOf(req.url);
      res.statusCode = 302;
      res.setHeader('Location', `${mounted.replace(/^[/\\]+/, '/')}/${query ? `?${query}` : ''}`);
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(DASHBOARD_PAGE));
    res.end(DASHBOARD_PAGE);
  };

  return (req, res, next) => {
    const route = matchRoute(pathOf(req.url), prefix, DASHBOARD_ROUTES);
    if (route === null || (req.method !== 'GET' && req.method !== 'HEAD')) {
      if (next) return next();
      return sendAnswer(res, { status: 404, body: { error: { message: 'Not found' } } });
    }
    // the route is decided, and checked, here: every spelling this handler serves has been through the check
    allowed(req)
      .then((ok) => (ok ? serve(route, req, res) : sendAnswer(res, DASHBOARD_DENIED)))
      .catch((err: unknown) => (next ? next(err) : sendAnswer(res, { status: 500, body: { error: { message: 'dashboard failed' } } })));
  };
}
