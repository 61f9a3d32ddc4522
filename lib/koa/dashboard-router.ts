import { createHash, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { LlmEngine } from '../core/engine';
import { ConfigError, type ConfigProblem } from '../errors/config-error';
import type { LlmStatus, RequestSummary } from '../types';
import { DASHBOARD_PAGE } from './dashboard-page';
import { prefixProblem, routeGuard } from './route-guard';
import { openEventStream } from './sse';
import { koaRouter } from './koa-router';

/** Options of `dashboardRouter()`. */
export interface DashboardOptions {
  /** The `llmResilience()` middleware (or anything with its `engine`). */
  llm: { engine: LlmEngine };
  /**
   * Who may see it: `{ token }` (sent as `?token=` or `Authorization: Bearer`, compared in constant time) or a
   * function of the context. Default: anyone who can reach the route — mount it behind your own auth.
   */
  auth?: { token: string } | ((ctx: ParameterizedContext) => boolean | Promise<boolean>);
  /** Default: `/dashboard`. */
  prefix?: string;
  /** Snapshots pushed by the SSE feed, in ms. Default: 1000. */
  intervalMs?: number;
}

export interface DashboardSnapshot {
  at: number;
  requests: number;
  fallbackRate: number | null;
  cacheHitRatio: number | null;
  spend: LlmStatus['spend'];
  models: LlmStatus['models'];
  review: ReturnType<LlmEngine['reviewLog']['entries']>;
  /** p50/p95/p99 per model over time (one point per snapshot, at most one a second, the last 10 minutes). */
  history: { t: number; p50: Record<string, number | null>; p95: Record<string, number | null>; p99: Record<string, number | null> }[];
}

const HISTORY = 600;

/**
 * A mountable @koa/router router: one self-contained HTML page, its JSON snapshot (`/data`) and an SSE feed
 * (`/feed`): each model's breaker state and cool-down, latency percentiles over time, fallback rate, cache hit
 * ratio, spend, and the recent fallback review log.
 */
export function dashboardRouter(options: DashboardOptions): Router {
  const problems: ConfigProblem[] = [];
  if (!options?.llm?.engine) problems.push({ path: '/llm', message: 'must be the middleware returned by llmResilience()' });
  const auth0 = options?.auth;
  if (auth0 !== undefined && typeof auth0 !== 'function' && !(typeof auth0?.token === 'string' && auth0.token.length >= 8)) {
    problems.push({ path: '/auth/token', message: 'must be a string of at least 8 characters' });
  }
  const interval = options?.intervalMs;
  // every connected page gets one timer of this period: a 0, NaN or overflowing period would fire every millisecond
  if (interval !== undefined && !(Number.isInteger(interval) && interval >= 10 && interval <= 3_600_000)) {
    problems.push({ path: '/intervalMs', message: 'must be an integer from 10 to 3600000 (ms)' });
  }
  const badPrefix = prefixProblem(options?.prefix);
  if (badPrefix) problems.push({ path: '/prefix', message: badPrefix });
  if (problems.length > 0) throw new ConfigError(problems);
  const engine = options.llm.engine;
  const intervalMs = interval ?? 1000;
  let requests = 0;
  let fallbacks = 0;
  engine.on('request', (s: RequestSummary) => {
    if (s.outcome !== 'success' && s.outcome !== 'failed') return;
    requests++;
    if (s.fallback) fallbacks++;
  });
  const history: DashboardSnapshot['history'] = [];

  const snapshot = (): DashboardSnapshot => {
    const status = engine.status();
    const now = Date.now();
    if (history.length === 0 || now - history[history.length - 1].t >= 1000) {
      const pick = (k: 'p50' | 'p95' | 'p99') => Object.fromEntries(status.models.map((m) => [m.name, m.latency['*']?.[k] ?? null]));
      history.push({ t: now, p50: pick('p50'), p95: pick('p95'), p99: pick('p99') });
      if (history.length > HISTORY) history.shift();
    }
    const c = status.cache;
    return {
      at: now,
      requests,
      fallbackRate: requests ? fallbacks / requests : null,
      cacheHitRatio: c && c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null,
      spend: status.spend,
      models: status.models,
      review: engine.reviewLog.entries().slice(-50),
      history: history.slice(),
    };
  };

  const auth = options.auth;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const allowed = async (ctx: ParameterizedContext): Promise<boolean> => {
    if (auth === undefined) return true;
    // a function may look the session up (async); only `true` lets in, and a throw or rejection keeps out
    if (typeof auth === 'function') return (await Promise.resolve().then(() => auth(ctx)).catch(() => false)) === true;
    const given = (typeof ctx.query.token === 'string' ? ctx.query.token : undefined) ?? /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
    return timingSafeEqual(digest(given), digest(auth.token));
  };

  const router = new (koaRouter())({ prefix: options.prefix ?? '/dashboard' });
  // the check runs in each route's own stack: however a path is spelt, if a route answers it, it was checked
  const guard = routeGuard(async (ctx, next) => {
    if (!(await allowed(ctx))) {
      ctx.status = 401;
      ctx.body = { error: { message: 'dashboard access denied' } };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  router.get('/', guard, (ctx) => {
    // the page uses relative URLs: make sure they resolve under the prefix
    if (!ctx.path.endsWith('/')) return ctx.redirect(`${ctx.path}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
    ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:");
    ctx.type = 'html';
    ctx.body = DASHBOARD_PAGE;
  });
  router.get('/data', guard, (ctx) => {
    ctx.body = snapshot();
  });
  router.get('/feed', guard, (ctx) => {
    const out = openEventStream(ctx);
    const send = (): void => {
      if (!out.destroyed) out.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
    };
    send();
    const timer = setInterval(send, intervalMs);
    // the engine's close() ends every feed, so nothing keeps the process alive
    const unregister = engine.onClose(() => stop());
    const stop = (): void => {
      clearInterval(timer);
      unregister();
      if (!out.destroyed) out.end();
    };
    ctx.res.once('close', stop);
  });
  return router;
}

