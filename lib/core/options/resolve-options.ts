import type { ErrorObject } from 'ajv';
import { ConfigError, type ConfigProblem } from '../../errors/config-error';
import { DEPLOYMENT_DEFAULTS, OPTION_DEFAULTS } from './option-defaults';
import type { DeploymentConfig, DeploymentStrategy, EngineCacheOptions, EngineOptions, FallbackReviewEntry, LlmLogger, ModelConfig, TenantLimitOverrides } from '../../types';
import { type SharedStore, storeProblem } from '../shared/shared-store';
import { ownValidator } from '../validation/own-validators';
import { type ChatProvider, isChatProvider } from '../provider/chat-provider';

export interface ResolvedModel {
  readonly name: string;
  readonly model: string;
  readonly baseURL: string | undefined;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly contextWindow: number | undefined;
  readonly maxOutputTokens: number | undefined;
  readonly price: { readonly inputPerMTok: number; readonly outputPerMTok: number } | undefined;
  readonly maxConcurrent: number | undefined;
  readonly firstTokenTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** The model continues a trailing assistant message (prefill): only such a model continues a stream. */
  readonly prefill: boolean;
  /** The model's own provider; undefined: the OpenAI-compatible one (the openai SDK). */
  readonly provider: ChatProvider | undefined;
  /**
   * Set when this entry is one deployment of a model with `deployments` (`name` is then `<group>/<deployment>`: the
   * key of its breaker, cool-down, bulkhead, latencies and spend). The deployments of a model are contiguous in
   * the chain, in the order they were configured; each request orders them by `strategy` (see `orderDeployments`).
   */
  readonly deployment?: ResolvedDeployment;
}

/** What a chain entry that is one deployment of a model knows of it. */
export interface ResolvedDeployment {
  /** The configured model's name (`models[].name`, else `model`). */
  readonly group: string;
  /** The deployment's own name. */
  readonly name: string;
  readonly weight: number;
  readonly strategy: DeploymentStrategy;
}

export interface ResolvedAdaptiveTimeout {
  readonly percentile: number;
  readonly multiplier: number;
  readonly minSamples: number;
  readonly minTimeoutMs: number;
}

export interface ResolvedHedge {
  readonly afterPercentile: number;
  readonly maxExtraLoad: number;
  readonly minSamples: number;
}

export interface ResolvedRetry {
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
  readonly budgetRatio: number;
  readonly budgetMinRetries: number;
  readonly budgetWindowMs: number;
}

export interface ResolvedRescue {
  readonly afterPercentile: number;
  readonly minSamples: number;
  readonly maxExtraLoad: number;
}

export interface ResolvedBreaker {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly rollingWindowMs: number;
  readonly resetTimeoutMs: number;
  /** Failures in a row that open the breaker whatever the window holds (0: off). */
  readonly consecutiveFailures: number;
}

export interface ResolvedSemantic {
  readonly embeddingModel: string;
  readonly baseURL: string | undefined;
  readonly apiKey: string | undefined;
  readonly threshold: number;
  readonly maxEntries: number;
  readonly timeoutMs: number;
  readonly allowNonDeterministic: boolean;
}

export interface ResolvedCache {
  readonly semantic: ResolvedSemantic | undefined;
  readonly store: SharedStore | undefined;
  readonly lockWaitMs: number;
  readonly max: number;
  readonly maxBytes: number | undefined;
  readonly ttlMs: number;
  readonly fallbackTtlMs: number;
  readonly scope: EngineCacheOptions['scope'];
}

export interface ResolvedTenantLimits {
  readonly requestsPerMinute: number | undefined;
  readonly tokensPerMinute: number | undefined;
  readonly usdPerDay: number | undefined;
  readonly perTenant: ((tenant: string) => TenantLimitOverrides | undefined) | undefined;
}

export interface ResolvedOptions {
  readonly models: readonly ResolvedModel[];
  readonly breaker: ResolvedBreaker;
  readonly cache: ResolvedCache | false;
  readonly rateLimit: { readonly defaultCooldownMs: number; readonly maxCooldownMs: number };
  readonly maxPromptChars: number | undefined;
  readonly maxPromptTokens: number | undefined;
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly shared: SharedStore | undefined;
  readonly deadlineMs: number | undefined;
  readonly adaptiveTimeout: ResolvedAdaptiveTimeout | false;
  readonly hedge: ResolvedHedge | false;
  readonly retry: ResolvedRetry | false;
  readonly rescue: ResolvedRescue | false;
  readonly truncate: false | 'oldest';
  readonly acceptTruncated: boolean;
  readonly midStream: 'error' | 'continue';
  readonly onRefusal: 'return' | 'fallback';
  readonly latencyWindow: number;
  readonly logger: LlmLogger | undefined;
  readonly onFallback: ((entry: FallbackReviewEntry) => void) | undefined;
  readonly reviewLogSize: number;
  readonly budget: { readonly usdPerHour: number | undefined; readonly usdPerDay: number | undefined } | undefined;
  readonly exposeHeaders: boolean;
  readonly tracing: boolean;
  /** The request's tenant for `tenantLimits`: the `tenant` option, else the cache's `scope`. */
  readonly tenant: ((ctx: unknown) => string | undefined) | undefined;
  readonly tenantLimits: ResolvedTenantLimits | undefined;
}

/** Every default the resolver fills in (see `OPTION_DEFAULTS`). */
const D = OPTION_DEFAULTS;

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

const PROVIDER_PROBLEM =
  "must be 'openai', 'anthropic', 'gemini' or a ChatProvider: an object with complete(call) (and, optionally, stream(call), close() and a promptTokenScale from 0 to 10)";

const EITHER: Record<string, string> = {
  '/cache': 'must be false or an object',
  '/adaptiveTimeout': 'must be a boolean or an object',
  '/hedge': 'must be a boolean or an object',
  '/retry': 'must be a boolean or an object',
  '/rescue': 'must be a boolean or an object',
};

function collectProblems(options: ResolvableOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // Built into the package (or compiled once). No `useDefaults`/`coerceTypes`: the caller's object is never mutated.
  const validate = ownValidator('options');
  if (!validate(toData(options))) {
    const seen = new Set<string>();
    for (const err of validate.errors ?? []) {
      // Options that are "false/boolean or an object": one message for the whole option, not one per branch.
      const either = EITHER[err.instancePath];
      if (either && (err.keyword === 'const' || err.keyword === 'type' || err.keyword === 'anyOf')) {
        const value = (options as unknown as Record<string, unknown>)[err.instancePath.slice(1)];
        if (typeof value !== 'object' || value === null) {
          const p = { path: err.instancePath, message: either };
          if (!seen.has(p.path + p.message)) {
            seen.add(p.path + p.message);
            problems.push(p);
          }
        }
        continue;
      }
      const provider = /^\/models\/\d+(?:\/deployments\/\d+)?\/provider(?=\/|$)/.exec(err.instancePath);
      const p = provider ? { path: provider[0], message: PROVIDER_PROBLEM } : describe(err);
      const id = `${p.path}|${p.message}`;
      if (!seen.has(id)) {
        seen.add(id);
        problems.push(p);
      }
    }
    return [...problems, ...tenantProblems(options)];
  }
  const names = new Map<string, string>();
  (options.models ?? []).forEach((m, i) => {
    const name = m.name ?? m.model;
    const first = names.get(name);
    if (first !== undefined) problems.push({ path: `/models/${i}/name`, message: `duplicates the name of ${first} ("${name}")` });
    else names.set(name, `/models/${i}`);
    deploymentProblems(m, i, names, problems);
    const badUrl = m.baseURL !== undefined ? urlProblem(m.baseURL) : null;
    if (badUrl) problems.push({ path: `/models/${i}/baseURL`, message: badUrl });
    if (typeof m.provider === 'object' && !isChatProvider(m.provider)) {
      problems.push({ path: `/models/${i}/provider`, message: PROVIDER_PROBLEM });
    }
    // the native families are made by the library's engine (createEngine, llmResilience, llmExpress) before the
    // core sees the options: one named here was not, and must not be taken for an OpenAI-compatible endpoint
    if (m.provider === 'anthropic' || m.provider === 'gemini') {
      problems.push({ path: `/models/${i}/provider`, message: `'${m.provider}' needs the engine of the package (createEngine, llmResilience or llmExpress)` });
    }
  });
  if (options.cache && options.cache.scope !== undefined && typeof options.cache.scope !== 'function') {
    problems.push({ path: '/cache/scope', message: 'must be a function (ctx) => string' });
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') problems.push({ path: '/fetch', message: 'must be a function' });
  const sharedProblem = options.shared === undefined ? '' : storeProblem(options.shared);
  if (sharedProblem) problems.push({ path: '/shared', message: sharedProblem });
  const cacheStoreProblem = options.cache && options.cache.store !== undefined ? storeProblem(options.cache.store) : '';
  if (cacheStoreProblem) problems.push({ path: '/cache/store', message: cacheStoreProblem });
  if (options.logger !== undefined && (typeof options.logger.info !== 'function' || typeof options.logger.warn !== 'function')) {
    problems.push({ path: '/logger', message: 'must have info() and warn() methods (pino-compatible)' });
  }
  if (options.onFallback !== undefined && typeof options.onFallback !== 'function') problems.push({ path: '/onFallback', message: 'must be a function' });

  const sem = options.cache ? options.cache.semantic : undefined;
  const badSemanticUrl = typeof sem?.baseURL === 'string' ? urlProblem(sem.baseURL) : null;
  if (badSemanticUrl) problems.push({ path: '/cache/semantic/baseURL', message: badSemanticUrl });
  const firstKey = options.models?.[0]?.apiKey ?? options.models?.[0]?.deployments?.[0]?.apiKey;
  if (sem && sem.apiKey === undefined && firstKey === undefined && !process.env.OPENAI_API_KEY) {
    problems.push({ path: '/cache/semantic/apiKey', message: 'is required when the first model has no apiKey and OPENAI_API_KEY is not set' });
  }
  // Only a model that continues a trailing assistant message may continue a stream, and the first model never
  // continues another one's answer: 'continue' with no later model able to would be 'error' under another name.
  const models = options.models ?? [];
  if (options.midStream === 'continue' && !models.slice(1).some((m) => m.prefill === true)) {
    problems.push({
      path: '/midStream',
      message: "'continue' needs a model after the first with prefill: true (one that continues a trailing assistant message); none has it",
    });
  }
  problems.push(...tenantProblems(options));
  const rl = options.rateLimit;
  if (rl?.defaultCooldownMs !== undefined && rl.maxCooldownMs !== undefined && rl.defaultCooldownMs > rl.maxCooldownMs) {
    problems.push({ path: '/rateLimit/defaultCooldownMs', message: 'must not exceed maxCooldownMs' });
  }
  return problems;
}

/** The tenant options the schema cannot check (functions), named even when the schema found other problems. */
function tenantProblems(options: ResolvableOptions): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (options.tenant !== undefined && typeof options.tenant !== 'function') out.push({ path: '/tenant', message: 'must be a function (ctx) => string | undefined' });
  const limits = options.tenantLimits as { perTenant?: unknown } | null | undefined;
  const perTenant = limits !== null && typeof limits === 'object' ? limits.perTenant : undefined;
  if (perTenant !== undefined && typeof perTenant !== 'function') out.push({ path: '/tenantLimits/perTenant', message: 'must be a function (tenant) => limits | undefined' });
  return out;
}

/**
 * What is wrong with a model's `deployments` (pushed to `problems`, every bad field by its path): each deployment's
 * `baseURL` and `provider` as a model's; its name (given, or its default: see `deploymentNames`) unique among the
 * model's deployments, and `<model>/<deployment>` unique among every name of the chain; `strategy` only with
 * deployments. `names` holds the chain's names so far (each with where it was given).
 */
function deploymentProblems(m: ModelConfig, i: number, names: Map<string, string>, problems: ConfigProblem[]): void {
  const at = `/models/${i}`;
  if (m.deployments === undefined) {
    if (m.strategy !== undefined) problems.push({ path: `${at}/strategy`, message: 'applies only to a model with deployments' });
    return;
  }
  const own = new Map<string, number>();
  deploymentNames(m.deployments).forEach((name, j) => {
    const d = m.deployments![j];
    const path = `${at}/deployments/${j}`;
    if (d.name === undefined && d.baseURL !== undefined && urlProblem(d.baseURL) !== null) {
      // no default name from a bad URL: the URL's own problem is reported below
    } else if (own.has(name)) {
      const why = d.name === undefined ? (d.baseURL === undefined ? 'its position' : "its baseURL's host") : 'its name';
      problems.push({ path: `${path}/name`, message: `duplicates the name of ${at}/deployments/${own.get(name)} ("${name}", from ${why}): give each deployment a distinct name` });
    } else {
      own.set(name, j);
      const full = `${m.name ?? m.model}/${name}`;
      const first = names.get(full);
      if (first !== undefined) problems.push({ path: `${path}/name`, message: `makes "${full}", already the name of ${first}` });
      else names.set(full, path);
    }
    const badUrl = d.baseURL !== undefined ? urlProblem(d.baseURL) : null;
    if (badUrl) problems.push({ path: `${path}/baseURL`, message: badUrl });
    if (typeof d.provider === 'object' && !isChatProvider(d.provider)) problems.push({ path: `${path}/provider`, message: PROVIDER_PROBLEM });
    if (d.provider === 'anthropic' || d.provider === 'gemini') {
      problems.push({ path: `${path}/provider`, message: `'${d.provider}' needs the engine of the package (createEngine, llmResilience or llmExpress)` });
    }
  });
  if (m.deployments.every((d) => d.weight === 0) && (m.strategy ?? DEPLOYMENT_DEFAULTS.strategy) === 'weighted') {
    problems.push({ path: `${at}/deployments`, message: "needs a deployment with a weight above 0 (strategy 'weighted')" });
  }
}

/**
 * Each deployment's name: its own `name`; else the host (and port) of its `baseURL`; else its position (`'0'`,
 * `'1'`, …). A bad `baseURL` gives its position (the URL is reported on its own).
 */
export function deploymentNames(deployments: readonly DeploymentConfig[]): string[] {
  return deployments.map((d, j) => {
    if (d.name !== undefined) return d.name;
    if (d.baseURL !== undefined) {
      try {
        const host = new URL(d.baseURL).host;
        if (host !== '') return host;
      } catch {
        // reported by urlProblem
      }
    }
    return String(j);
  });
}

/** What is wrong with a provider's base URL, if anything (never echoing it: it may hold a secret). */
function urlProblem(s: string): string | null {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'must be an http(s) URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL';
  // Node's fetch refuses such a URL on every call, which would surface only as a "connection error" per attempt
  if (u.username !== '' || u.password !== '') return 'must not hold credentials (user:password@): give the key as apiKey';
  return null;
}

/**
 * Validates options (listing every problem with its path) and fills defaults.
 * Never mutates `options`; the result is deeply frozen.
 */
/** Options as each middleware takes them: `models` is only required where the chain is built. */
export type ResolvableOptions = Omit<EngineOptions, 'models'> & { models?: EngineOptions['models'] };

export function resolveOptions(options: ResolvableOptions, use: { modelsRequired: boolean } = { modelsRequired: true }): ResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError([{ path: '', message: 'options must be an object' }]);
  }
  const problems = collectProblems(options);
  if (use.modelsRequired && options.models === undefined) problems.unshift({ path: '/models', message: 'is required' });
  if (problems.length > 0) throw new ConfigError(problems);

  const models = (options.models ?? []).flatMap((m) => {
    const model: ResolvedModel = {
      name: m.name ?? m.model,
      model: m.model,
      baseURL: m.baseURL,
      apiKey: m.apiKey,
      timeoutMs: m.timeoutMs ?? D.models.timeoutMs,
      contextWindow: m.contextWindow,
      maxOutputTokens: m.maxOutputTokens,
      price: m.price ? Object.freeze({ ...m.price }) : undefined,
      maxConcurrent: m.maxConcurrent ?? options.maxConcurrent,
      firstTokenTimeoutMs: m.firstTokenTimeoutMs ?? m.timeoutMs ?? D.models.timeoutMs,
      idleTimeoutMs: m.idleTimeoutMs ?? D.models.idleTimeoutMs,
      prefill: m.prefill ?? D.models.prefill,
      provider: typeof m.provider === 'object' ? m.provider : undefined,
    };
    if (m.deployments === undefined) return [Object.freeze(model)];
    // one chain entry per deployment: the model's settings, with what the deployment gives in their place
    const strategy = m.strategy ?? DEPLOYMENT_DEFAULTS.strategy;
    const names = deploymentNames(m.deployments);
    return m.deployments.map((d, j) =>
      Object.freeze<ResolvedModel>({
        ...model,
        name: `${model.name}/${names[j]}`,
        model: d.model ?? model.model,
        baseURL: d.baseURL ?? model.baseURL,
        apiKey: d.apiKey ?? model.apiKey,
        maxConcurrent: d.maxConcurrent ?? model.maxConcurrent,
        provider: d.provider === undefined ? model.provider : typeof d.provider === 'object' ? d.provider : undefined,
        deployment: Object.freeze({ group: model.name, name: names[j], weight: d.weight ?? DEPLOYMENT_DEFAULTS.weight, strategy }),
      }),
    );
  });
  const c = options.cache;
  const cache: ResolvedCache | false =
    c === false
      ? false
      : Object.freeze({
          max: c?.max ?? D.cache.max,
          maxBytes: c?.maxBytes,
          ttlMs: c?.ttlMs ?? D.cache.ttlMs,
          fallbackTtlMs: Math.min(c?.fallbackTtlMs ?? D.cache.fallbackTtlMs, c?.ttlMs ?? D.cache.ttlMs),
          scope: c?.scope,
          store: c?.store,
          lockWaitMs: c?.lockWaitMs ?? D.cache.lockWaitMs,
          semantic: c?.semantic
            ? Object.freeze({
                embeddingModel: c.semantic.embeddingModel,
                baseURL: c.semantic.baseURL ?? models[0]?.baseURL ?? process.env.OPENAI_BASE_URL,
                apiKey: c.semantic.apiKey ?? models[0]?.apiKey ?? process.env.OPENAI_API_KEY,
                threshold: c.semantic.threshold ?? D.cache.semantic.threshold,
                maxEntries: c.semantic.maxEntries ?? D.cache.semantic.maxEntries,
                timeoutMs: c.semantic.timeoutMs ?? D.cache.semantic.timeoutMs,
                allowNonDeterministic: c.semantic.allowNonDeterministic ?? D.cache.semantic.allowNonDeterministic,
              })
            : undefined,
        });
  return Object.freeze({
    models: Object.freeze(models),
    breaker: Object.freeze({ ...D.breaker, ...definedOnly(options.breaker) }),
    cache,
    rateLimit: Object.freeze({ ...D.rateLimit, ...definedOnly(options.rateLimit) }),
    maxPromptChars: options.maxPromptChars,
    maxPromptTokens: options.maxPromptTokens,
    fetch: options.fetch,
    shared: options.shared,
    deadlineMs: options.deadlineMs,
    adaptiveTimeout: switchable<ResolvedAdaptiveTimeout>(options.adaptiveTimeout ?? D.adaptiveTimeout, D.switchedOn.adaptiveTimeout),
    hedge: switchable<ResolvedHedge>(options.hedge ?? D.hedge, D.switchedOn.hedge),
    retry: switchable<ResolvedRetry>(options.retry ?? D.retry, D.switchedOn.retry),
    rescue: switchable<ResolvedRescue>(options.rescue ?? D.rescue, D.switchedOn.rescue),
    truncate: options.truncate ?? D.truncate,
    acceptTruncated: options.acceptTruncated ?? D.acceptTruncated,
    midStream: options.midStream ?? D.midStream,
    onRefusal: options.onRefusal ?? D.onRefusal,
    latencyWindow: options.latencyWindow ?? D.latencyWindow,
    logger: options.logger,
    onFallback: options.onFallback,
    reviewLogSize: options.reviewLogSize ?? D.reviewLogSize,
    budget: options.budget ? Object.freeze({ usdPerHour: options.budget.usdPerHour, usdPerDay: options.budget.usdPerDay }) : undefined,
    exposeHeaders: options.exposeHeaders ?? D.exposeHeaders,
    tracing: options.tracing ?? D.tracing,
    tenant: options.tenant ?? (c ? c.scope : undefined),
    tenantLimits: options.tenantLimits ? Object.freeze({ ...{ requestsPerMinute: undefined, tokensPerMinute: undefined, usdPerDay: undefined, perTenant: undefined }, ...definedOnly(options.tenantLimits) }) : undefined,
  });
}

/** `true` → defaults; an object → defaults overridden; `false` → off. */
function switchable<T extends object>(value: boolean | Partial<T>, defaults: T): T | false {
  if (value === false) return false;
  return Object.freeze({ ...defaults, ...(value === true ? {} : definedOnly(value)) });
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
