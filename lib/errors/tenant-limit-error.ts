import { LlmResilienceError } from './llm-resilience-error';

/** Which of a tenant's limits refused a request. */
export type TenantLimitKind = 'requests' | 'tokens' | 'usd';

/** One limit's state as the response headers state it (OpenAI's `x-ratelimit-*-requests` / `-tokens`). */
export interface TenantLimitState {
  /** The limit: requests or tokens per minute. */
  limit: number;
  /** What the tenant may still use now (0 when refused). */
  remaining: number;
  /** Milliseconds until the tenant's whole allowance is back. */
  resetMs: number;
}

/**
 * A tenant is over one of its `tenantLimits` (requests or tokens per minute, USD per day): refused before the cache
 * and before any upstream call. The caller's own limit: never a model's failure, never a 503. The message names the
 * limit, never the tenant's key.
 */
export class TenantLimitError extends LlmResilienceError {
  readonly code = 'TENANT_RATE_LIMITED';
  readonly status = 429;
  readonly expose = true;
  /** The limit that refused the request (when several did, the one that frees up last). */
  readonly limit: TenantLimitKind;
  /** Seconds until the request would be admitted; at least 1. */
  readonly retryAfterS: number;
  /** The per-minute limits the tenant has, for the `x-ratelimit-*` headers. */
  readonly rateLimits: { readonly requests?: TenantLimitState; readonly tokens?: TenantLimitState };

  constructor(limit: TenantLimitKind, retryAfterS: number, rateLimits: TenantLimitError['rateLimits'] = {}) {
    const what = limit === 'requests' ? 'requests per minute' : limit === 'tokens' ? 'tokens per minute' : 'USD per day';
    super(`Tenant limit reached (${what}); retry after ${retryAfterS} s`);
    this.limit = limit;
    this.retryAfterS = retryAfterS;
    this.rateLimits = rateLimits;
  }
}

export function isTenantLimitError(err: unknown): err is TenantLimitError {
  return err instanceof TenantLimitError;
}
