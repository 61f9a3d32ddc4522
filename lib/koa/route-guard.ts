import type { Middleware } from 'koa';

/**
 * A router's access check, run where its routes match rather than where a path says they are. @koa/router
 * matches routes by their own regular expressions (case-insensitive by default, a trailing `/` allowed, with
 * whatever prefix the router or its parent mount adds), and a `router.use(check)` layer by another one: a path
 * the two spell differently (`/V1/CHAT/COMPLETIONS`) reached the route without the check. So the check is the
 * first middleware of each route's own stack (`route(guard, handler)`): whenever a route runs, its check has run.
 * It is not mounted on the router as a whole: a router-wide layer is skipped by an `exclusive` parent, lost by a
 * later `router.prefix()`, and with an empty prefix would take over the parent's own routes. Routes an app adds
 * to the returned router carry their own auth. A request passes it once (a route listing it twice only calls
 * `next` the second time).
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
