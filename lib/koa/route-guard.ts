import type Router from '@koa/router';
import type { Middleware } from 'koa';

/**
 * A router's access check, run where its routes match rather than where a path says they are. @koa/router
 * matches routes by their own regular expressions (case-insensitive by default, a trailing `/` allowed, with
 * whatever prefix the router or its parent mount adds), and a `router.use(check)` layer by another one: a path
 * the two spell differently (`/V1/CHAT/COMPLETIONS`) reached the route without the check. So the check is the
 * first middleware of each route's own stack (`route(guard, handler)`): whenever a route runs, its check has run.
 * The same check is also mounted on the router (`router.use('', guard)`, case-insensitive, under the prefix), so
 * that routes and middlewares added to the returned router later are checked too. A request passes it once: the
 * second time (the route's own copy after the router's) it only calls `next`.
 */
export function routeGuard(check: Middleware): Middleware {
  const passed = new WeakSet<object>();
  return (ctx, next) => {
    if (passed.has(ctx)) return next();
    return check(ctx, () => {
      passed.add(ctx);
      return next();
    });
  };
}

/** Mounts `guard` on `router` for everything under its prefix, whatever the case (routes carry it as well). */
export function guardRouter(router: Router, guard: Middleware): void {
  // '' is @koa/router's "every path under the prefix", matched with the routes' own options, its capture ignored
  router.use('', guard);
}
