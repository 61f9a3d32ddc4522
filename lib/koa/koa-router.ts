import type Router from '@koa/router';

/**
 * The app's @koa/router (a peer dependency), loaded when the first router is made: `require('koa-llm-resilience')`
 * does not load it, and the routers this library makes come from the same copy as the app's own routers.
 */
export function koaRouter(): typeof Router {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('@koa/router') as typeof Router & { default?: typeof Router };
  // @koa/router 12–14 export the class itself; 15 also has `default` (and `Router`).
  return mod.default ?? mod;
}
