import Ajv, { type ErrorObject } from 'ajv';
import { ConfigError, type ConfigProblem } from '../../errors/config-error';
import type { CacheOptions, LlmResilienceOptions } from '../../types';
import { optionsSchema } from './options-schema';

export interface ResolvedModel {
  readonly name: string;
  readonly model: string;
  readonly baseURL: string | undefined;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly contextWindow: number | undefined;
  readonly maxOutputTokens: number | undefined;
  readonly price: { readonly inputPerMTok: number; readonly outputPerMTok: number } | undefined;
}

export interface ResolvedBreaker {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly rollingWindowMs: number;
  readonly resetTimeoutMs: number;
}

export interface ResolvedCache {
  readonly max: number;
  readonly maxBytes: number | undefined;
  readonly ttlMs: number;
  readonly fallbackTtlMs: number;
  readonly scope: CacheOptions['scope'];
}

export interface ResolvedOptions {
  readonly models: readonly ResolvedModel[];
  readonly breaker: ResolvedBreaker;
  readonly cache: ResolvedCache | false;
  readonly rateLimit: { readonly defaultCooldownMs: number; readonly maxCooldownMs: number };
  readonly maxPromptChars: number | undefined;
  readonly maxPromptTokens: number | undefined;
  readonly fetch: typeof globalThis.fetch | undefined;
}

export const DEFAULTS = Object.freeze({
  timeoutMs: 2000,
  breaker: Object.freeze({ errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 }),
  cache: Object.freeze({ max: 1000, ttlMs: 600_000, fallbackTtlMs: 30_000 }),
  rateLimit: Object.freeze({ defaultCooldownMs: 1000, maxCooldownMs: 60_000 }),
});

// Compiled once for the process. No `useDefaults`/`coerceTypes`: the caller's object is never mutated.
const validate = new Ajv({ allErrors: true, strict: true }).compile(optionsSchema);

function describe(err: ErrorObject): ConfigProblem {
  const path = err.instancePath || '';
  switch (err.keyword) {
    case 'additionalProperties':
      return { path: `${path}/${String(err.params.additionalProperty)}`, message: 'is not a known option' };
    case 'required':
      return { path: `${path}/${String(err.params.missingProperty)}`, message: 'is required' };
    default:
      return { path, message: err.message ?? 'is invalid' };
  }
}

/** Plain-data copy for validation: functions become `{}` placeholders, undefined members are dropped. */
function toData(value: unknown, depth = 0): unknown {
  if (depth > 20) return null;
  if (typeof value === 'function') return {};
  if (Array.isArray(value)) return value.map((v) => toData(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      // `{ breaker: undefined }` means "not given", as everywhere in JS.
      if (v !== undefined) out[key] = toData(v, depth + 1);
    }
    return out;
  }
  return value;
}

function collectProblems(options: LlmResilienceOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!validate(toData(options))) {
    const seen = new Set<string>();
    for (const err of validate.errors ?? []) {
      // `cache` is anyOf [false, object]: report the object branch only, it is what people mean.
      if (err.instancePath === '/cache' && (err.keyword === 'const' || err.keyword === 'anyOf')) {
        if (typeof options.cache !== 'object' || options.cache === null) {
          problems.push({ path: '/cache', message: 'must be false or an object' });
        }
        continue;
      }
      const p = describe(err);
      const id = `${p.path}|${p.message}`;
      if (!seen.has(id)) {
        seen.add(id);
        problems.push(p);
      }
    }
    return problems;
  }
  const names = new Map<string, number>();
  (options.models ?? []).forEach((m, i) => {
    const name = m.name ?? m.model;
    const first = names.get(name);
    if (first !== undefined) problems.push({ path: `/models/${i}/name`, message: `duplicates the name of /models/${first} ("${name}")` });
    else names.set(name, i);
    if (m.baseURL !== undefined && !isHttpUrl(m.baseURL)) problems.push({ path: `/models/${i}/baseURL`, message: 'must be an http(s) URL' });
  });
  if (options.cache && options.cache.scope !== undefined && typeof options.cache.scope !== 'function') {
    problems.push({ path: '/cache/scope', message: 'must be a function (ctx) => string' });
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') problems.push({ path: '/fetch', message: 'must be a function' });
  const rl = options.rateLimit;
  if (rl?.defaultCooldownMs !== undefined && rl.maxCooldownMs !== undefined && rl.defaultCooldownMs > rl.maxCooldownMs) {
    problems.push({ path: '/rateLimit/defaultCooldownMs', message: 'must not exceed maxCooldownMs' });
  }
  return problems;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Validates options (listing every problem with its path) and fills defaults.
 * Never mutates `options`; the result is deeply frozen.
 */
export function resolveOptions(options: LlmResilienceOptions, use: { modelsRequired: boolean } = { modelsRequired: true }): ResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError([{ path: '', message: 'options must be an object' }]);
  }
  const problems = collectProblems(options);
  if (use.modelsRequired && options.models === undefined) problems.unshift({ path: '/models', message: 'is required' });
  if (problems.length > 0) throw new ConfigError(problems);

  const models = (options.models ?? []).map((m) =>
    Object.freeze<ResolvedModel>({
      name: m.name ?? m.model,
      model: m.model,
      baseURL: m.baseURL,
      apiKey: m.apiKey,
      timeoutMs: m.timeoutMs ?? DEFAULTS.timeoutMs,
      contextWindow: m.contextWindow,
      maxOutputTokens: m.maxOutputTokens,
      price: m.price ? Object.freeze({ ...m.price }) : undefined,
    }),
  );
  const c = options.cache;
  const cache: ResolvedCache | false =
    c === false
      ? false
      : Object.freeze({
          max: c?.max ?? DEFAULTS.cache.max,
          maxBytes: c?.maxBytes,
          ttlMs: c?.ttlMs ?? DEFAULTS.cache.ttlMs,
          fallbackTtlMs: Math.min(c?.fallbackTtlMs ?? DEFAULTS.cache.fallbackTtlMs, c?.ttlMs ?? DEFAULTS.cache.ttlMs),
          scope: c?.scope,
        });
  return Object.freeze({
    models: Object.freeze(models),
    breaker: Object.freeze({ ...DEFAULTS.breaker, ...definedOnly(options.breaker) }),
    cache,
    rateLimit: Object.freeze({ ...DEFAULTS.rateLimit, ...definedOnly(options.rateLimit) }),
    maxPromptChars: options.maxPromptChars,
    maxPromptTokens: options.maxPromptTokens,
    fetch: options.fetch,
  });
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
