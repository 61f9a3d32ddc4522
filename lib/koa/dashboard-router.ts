import type Router from '@koa/router';
import type { ParameterizedContext } from 'koa';
import { dashboardAccess, DASHBOARD_CSP, DASHBOARD_DENIED } from '../dashboard/dashboard-access';
import { checkDashboardOptions, type DashboardBaseOptions } from '../dashboard/dashboard-options';
import { DASHBOARD_PAGE } from '../dashboard/dashboard-page';
import { runDashboardFeed } from '../dashboard/dashboard-feed';
import { dashboardSnapshots } from '../dashboard/dashboard-snapshot';
import { routeGuard } from './route-guard';
import { openEventStream } from './sse';
import { koaRouter } from './koa-router';
import { OPTION_DEFAULTS } from '../core/options/option-defaults';

/** Options of `dashboardRouter()`. */
export interface DashboardOptions extends DashboardBaseOptions {
  /**
   * Who may see it: `{ token }` (sent as `?token=` or `Authorization: Bearer`, compared in constant time) or a
   * function of the context. Default: anyone who can reach the route — mount it behind your own auth.
   */
  auth?: { token: string } | ((ctx: ParameterizedContext) => boolean | Promise<boolean>);
}

/**
 * A mountable @koa/router router: one self-contained HTML page, its JSON snapshot (`/data`) and an SSE feed
 * (`/feed`): each model's breaker state and cool-down, latency percentiles over time, fallback rate, cache hit
 * ratio, spend, and the recent fallback review log. The data and the page are `lib/dashboard`'s; this is their
 * Koa adapter.
 */
export function dashboardRouter(options: DashboardOptions): Router {
  checkDashboardOptions(options);
  const engine = options.llm.engine;
  const intervalMs = options.intervalMs ?? OPTION_DEFAULTS.dashboard.intervalMs;
  const snapshot = dashboardSnapshots(engine);
  const allowed = dashboardAccess(options.auth, (ctx: ParameterizedContext) => ({
    queryToken: typeof ctx.query.token === 'string' ? ctx.query.token : undefined,
    authorization: ctx.get('authorization'),
  }));

  const router = new (koaRouter())({ prefix: options.prefix ?? OPTION_DEFAULTS.dashboard.prefix });
  // the check runs in each route's own stack: however a path is spelt, if a route answers it, it was checked
  const guard = routeGuard(async (ctx, next) => {
    if (!(await allowed(ctx))) {
      ctx.status = DASHBOARD_DENIED.status;
      ctx.body = DASHBOARD_DENIED.body;
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  router.get('/', guard, (ctx) => {
    // the page uses relative URLs: make sure they resolve under the prefix
    if (!ctx.path.endsWith('/')) return ctx.redirect(`${ctx.path}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
    ctx.set('Content-Security-Policy', DASHBOARD_CSP);
    ctx.type = 'html';
    ctx.body = DASHBOARD_PAGE;
  });
  router.get('/data', guard, (ctx) => {
    ctx.body = snapshot();
  });
  router.get('/feed', guard, (ctx) => {
    const out = openEventStream(ctx);
    runDashboardFeed(engine, snapshot, intervalMs, ctx.res, {
      write: (text) => {
        if (!out.destroyed) out.write(text);
      },
      end: () => {
        if (!out.destroyed) out.end();
      },
    });
  });
  return router;
}
