import { TenantLimitError, type TenantLimitKind, type TenantLimitState } from '../../errors/tenant-limit-error';
import type { TenantLimitOverrides, Usage } from '../../types';
import { estimateCostUsd } from '../cost/spend-tracker';
import type { EventBus } from '../events/event-bus';
import type { ResolvedOptions, ResolvedTenantLimits } from '../options/resolve-options';
import { capTokens } from '../provider/answer';
import type { NormalizedRequest } from '../request/normalize-request';
import { loadTokenizer, promptTokens } from '../request/prompt-size';
import { sha256 } from '../sha256';
import type { SharedStore } from '../shared/shared-store';
import { type LimitOutcome, type LimitSpec, limitState, LocalGcra } from './gcra';
import { limitScript } from './limit-script';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** USD are counted in micro-dollars, so that every limit's units are of a similar size. */
const MICRO = 1_000_000;

/** One limit of one tenant for one request. */
interface Taken extends LimitSpec {
  readonly kind: TenantLimitKind;
}

/** The limits a request was admitted under, to settle once its answer (or failure) is known. */
export interface TenantTicket {
  readonly keys: readonly string[];
  readonly taken: readonly Taken[];
  /** Decided in the shared store (settled there too), or in this process. */
  readonly fleet: boolean;
}

/** How a request ended, for its settlement: what its upstream call really used, or that it used none. */
export type TenantSpend = { upstream: false } | { upstream: true; usage: Usage | undefined };

/**
 * The limits per tenant: requests per minute, tokens per minute and USD per day (see `TenantLimitOptions`), each a
 * GCRA (`gcra.ts`). Fleet-wide in the shared store when it runs scripts (`evalScript`: one atomic script a request,
 * within the store's timeout); in this process while the store is down, slow or absent (no request waits on a store
 * known to be down). A request is admitted with an estimate (its prompt's tokens plus its `maxTokens`, and their
 * cost at the dearest model of its chain), and settled when it ends: with what its answer really used, or with
 * nothing when no upstream call was made for it (a cache hit, an answer it shared) or the call failed.
 */
export class TenantLimits {
  readonly #local = new LocalGcra();
  readonly #store: SharedStore | undefined;
  readonly #counts: boolean;

  constructor(
    readonly options: ResolvedTenantLimits,
    store: SharedStore | undefined,
    readonly events: EventBus,
  ) {
    this.#store = store && typeof store.evalScript === 'function' ? store : undefined;
    // token counts are needed when a limit may count tokens or cost: loaded at start-up, not by the first request
    this.#counts = options.tokensPerMinute !== undefined || options.usdPerDay !== undefined || options.perTenant !== undefined;
    if (this.#counts) loadTokenizer();
  }

  /**
   * Admits one request of `tenant` (its limits taken) or throws `TenantLimitError`. Null: the tenant has no limit.
   * Waits at most the shared store's timeout, not at all while the store is down.
   */
  async admit(tenant: string, req: NormalizedRequest, requestId: string): Promise<TenantTicket | null> {
    const limits = this.#limitsOf(tenant);
    const taken: Taken[] = [];
    if (limits.requestsPerMinute !== undefined) taken.push({ kind: 'requests', windowMs: MINUTE_MS, limit: limits.requestsPerMinute, cost: 1 });
    if (limits.tokensPerMinute !== undefined || limits.usdPerDay !== undefined) {
      const prompt = promptTokens(req.messages);
      if (limits.tokensPerMinute !== undefined) {
        const tokens = prompt + (capTokens(req.maxTokens, req.chain[0]?.maxOutputTokens) ?? 0);
        // a request larger than the whole allowance takes all of it (admitted when the tenant has used nothing)
        taken.push({ kind: 'tokens', windowMs: MINUTE_MS, limit: limits.tokensPerMinute, cost: Math.min(tokens, limits.tokensPerMinute) });
      }
      if (limits.usdPerDay !== undefined) {
        let usd = 0;
        for (const m of req.chain) usd = Math.max(usd, estimateCostUsd(m, prompt, capTokens(req.maxTokens, m.maxOutputTokens) ?? 0));
        const limit = limits.usdPerDay * MICRO;
        taken.push({ kind: 'usd', windowMs: DAY_MS, limit, cost: Math.min(usd * MICRO, limit) });
      }
    }
    if (taken.length === 0) return null;
    const id = tenantId(tenant);
    const keys = taken.map((t) => `tl:{${id}}:${t.kind}`);
    const fleet = await this.#fleet('take', keys, taken);
    const out = fleet ?? this.#local.apply('take', keys, taken);
    if (!out.allowed) {
      const limit = taken[out.worst].kind;
      const retryAfterS = Math.max(1, Math.ceil(out.retryMs / 1000));
      if (this.events.has('tenant:limited')) this.events.emit('tenant:limited', { requestId, tenantId: id, limit, retryAfterS, fleet: fleet !== null });
      throw new TenantLimitError(limit, retryAfterS, rateLimits(taken, out));
    }
    return { keys, taken, fleet: fleet !== null };
  }

  /**
   * Settles an admitted request: the tokens and cost it took are replaced by what its upstream call used (none
   * for an answer no call was made for, or a call that failed). Requests are never given back. Best-effort and
   * never awaited by the request.
   */
  settle(ticket: TenantTicket, spend: TenantSpend): void {
    const given: Taken[] = [];
    const keys: string[] = [];
    ticket.taken.forEach((t, i) => {
      if (t.kind === 'requests') return;
      const u = spend.upstream ? spend.usage : undefined;
      const used = !u ? 0 : t.kind === 'tokens' ? u.promptTokens + u.completionTokens : (u.costUsd ?? 0) * MICRO;
      const delta = used - t.cost;
      if (delta === 0 || !Number.isFinite(delta)) return;
      given.push({ ...t, cost: delta });
      keys.push(ticket.keys[i]);
    });
    if (given.length === 0) return;
    if (ticket.fleet) void this.#fleet('give', keys, given);
    else this.#local.apply('give', keys, given);
  }

  /** The step in the shared store; null when it is down, slow, absent or answered something else. */
  async #fleet(mode: 'take' | 'give', keys: readonly string[], specs: readonly LimitSpec[]): Promise<LimitOutcome | null> {
    if (!this.#store?.evalScript) return null;
    const args: (string | number)[] = [mode];
    for (const s of specs) args.push(s.windowMs, s.limit, s.cost);
    const reply = await this.#store.evalScript(limitScript, keys, args, { spentMs: 0 });
    return reply ? parseReply(reply, specs.length) : null;
  }

  #limitsOf(tenant: string): { requestsPerMinute?: number; tokensPerMinute?: number; usdPerDay?: number } {
    const o = this.options;
    let own: TenantLimitOverrides | undefined;
    try {
      own = o.perTenant?.(tenant);
    } catch {
      own = undefined; // a throwing `perTenant`: the defaults apply
    }
    return {
      requestsPerMinute: pick(own?.requestsPerMinute, o.requestsPerMinute, true),
      tokensPerMinute: pick(own?.tokensPerMinute, o.tokensPerMinute, true),
      usdPerDay: pick(own?.usdPerDay, o.usdPerDay, false),
    };
  }
}

/** The limits per tenant of these options (fleet-wide in `shared`, else in the cache's `store`); null without `tenantLimits`. */
export function tenantLimitsOf(options: Pick<ResolvedOptions, 'tenantLimits' | 'shared' | 'cache'>, events: EventBus): TenantLimits | null {
  if (!options.tenantLimits) return null;
  return new TenantLimits(options.tenantLimits, options.shared ?? (options.cache ? options.cache.store : undefined), events);
}

/** A tenant's own value when it is a valid one (`null`: no limit), else the default. */
function pick(own: number | null | undefined, fallback: number | undefined, integer: boolean): number | undefined {
  if (own === null) return undefined;
  if (typeof own === 'number' && Number.isFinite(own) && own > 0) return integer ? Math.max(1, Math.floor(own)) : own;
  return fallback;
}

/**
 * The tenant as the limits key it: a string (a finite number is its decimal text); none (undefined, null, ''):
 * no tenant limit. Anything else is refused, loudly: a Promise (an `async` tenant function) or an object would
 * otherwise leave every tenant unlimited.
 */
export function tenantKeyOf(tenant: unknown): string | undefined {
  if (typeof tenant === 'string') return tenant === '' ? undefined : tenant;
  if (tenant === undefined || tenant === null) return undefined;
  if (typeof tenant === 'number' && Number.isFinite(tenant)) return String(tenant);
  const got = tenant instanceof Promise ? 'a Promise (an async tenant function is not supported)' : `a value of type ${typeof tenant}`;
  throw new TypeError(`koa-llm-resilience: the tenant must be a string, but tenant() returned ${got}`);
}

/** What stands for a tenant in the store's keys and in events: a hash of its key (which may be a secret). */
export function tenantId(tenant: string): string {
  return sha256(tenant).slice(0, 22);
}

function parseReply(reply: unknown[], n: number): LimitOutcome | null {
  const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN);
  const tats = reply.slice(4, 4 + n).map(num);
  const [allowed, worst, retryMs, now] = reply.slice(0, 4).map(num);
  if (tats.length !== n || [allowed, worst, retryMs, now, ...tats].some((x) => !Number.isFinite(x))) return null;
  return { allowed: allowed === 1, worst: worst - 1, retryMs, now, tats };
}

/** The per-minute limits' states, for the `x-ratelimit-*` headers of a refusal. */
function rateLimits(taken: readonly Taken[], out: LimitOutcome): TenantLimitError['rateLimits'] {
  const r: { requests?: TenantLimitState; tokens?: TenantLimitState } = {};
  taken.forEach((t, i) => {
    if (t.kind === 'usd') return;
    r[t.kind] = { limit: t.limit, ...limitState(t, out.tats[i], out.now) };
  });
  return r;
}
