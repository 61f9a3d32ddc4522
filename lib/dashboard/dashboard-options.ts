import type { LlmEngine } from '../core/engine';
import { ConfigError, type ConfigProblem } from '../errors/config-error';
import { prefixProblem } from '../http/route-path';

/** The dashboard's options every adapter shares; each adds `auth`, whose function reads its own request. */
export interface DashboardBaseOptions {
  /** The resilience middleware (`llmResilience()`, `llmExpress()`), or anything with its `engine`. */
  llm: { engine: LlmEngine };
  /** Default: `/dashboard`. */
  prefix?: string;
  /** Snapshots pushed by the SSE feed, in ms. Default: 1000. */
  intervalMs?: number;
}

/** The dashboard's routes under its prefix: the page, its JSON snapshot, the live feed. */
export const DASHBOARD_ROUTES = ['/', '/data', '/feed'] as const;

/** Throws a `ConfigError` naming every bad option. */
export function checkDashboardOptions(options: (DashboardBaseOptions & { auth?: unknown }) | undefined): void {
  const problems: ConfigProblem[] = [];
  if (!options?.llm?.engine) problems.push({ path: '/llm', message: 'must be the middleware returned by llmResilience()' });
  const auth = options?.auth as { token?: unknown } | undefined;
  if (auth !== undefined && typeof auth !== 'function' && !(typeof auth?.token === 'string' && auth.token.length >= 8)) {
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
}
