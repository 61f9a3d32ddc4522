import type { TenantLimitError } from '../errors/tenant-limit-error';

/**
 * The headers of a tenant's 429: `Retry-After` (seconds) and, for each per-minute limit the tenant has, OpenAI's
 * `x-ratelimit-limit-*`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` (`requests`, `tokens`; the reset as
 * OpenAI writes a duration: `20ms`, `1s`, `6m0s`).
 */
export function rateLimitHeaders(err: TenantLimitError): Record<string, string> {
  const h: Record<string, string> = { 'Retry-After': String(err.retryAfterS) };
  for (const kind of ['requests', 'tokens'] as const) {
    const s = err.rateLimits[kind];
    if (!s) continue;
    h[`x-ratelimit-limit-${kind}`] = String(s.limit);
    h[`x-ratelimit-remaining-${kind}`] = String(s.remaining);
    h[`x-ratelimit-reset-${kind}`] = openAIDuration(s.resetMs);
  }
  return h;
}

/** A duration as OpenAI's rate-limit headers write it: `0s`, `250ms`, `12s`, `1m30s`, `2h0m0s`. */
export function openAIDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const s = Math.ceil(total / 1000);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m${s % 60}s` : `${m}m${s % 60}s`;
}
