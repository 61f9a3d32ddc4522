import { ConfigError } from '../errors/config-error';
import type { ChatProvider } from '../core/provider/chat-provider';
import type { LlmResilienceOptions } from '../koa/types';
import { anthropicProvider } from './anthropic/anthropic-provider';
import { geminiProvider } from './gemini/gemini-provider';

/** The provider families the library speaks natively besides OpenAI's, by the name `models[].provider` gives. */
const NATIVE = {
  anthropic: {
    keyVars: ['ANTHROPIC_API_KEY'],
    make: (m: { apiKey: string; baseURL?: string }, fetch?: typeof globalThis.fetch): ChatProvider => anthropicProvider({ apiKey: m.apiKey, ...(m.baseURL ? { baseURL: m.baseURL } : {}), ...(fetch ? { fetch } : {}) }),
    // the Messages API continues a trailing assistant message
    prefill: true,
  },
  gemini: {
    keyVars: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    make: (m: { apiKey: string; baseURL?: string }, fetch?: typeof globalThis.fetch): ChatProvider => geminiProvider({ apiKey: m.apiKey, ...(m.baseURL ? { baseURL: m.baseURL } : {}), ...(fetch ? { fetch } : {}) }),
    prefill: false,
  },
} as const;

export type NativeProviderName = keyof typeof NATIVE;

const isNative = (p: unknown): p is NativeProviderName => p === 'anthropic' || p === 'gemini';

/**
 * The options with each `provider: 'anthropic' | 'gemini'` model given its native provider (the official SDK, loaded
 * now: a missing one is a `MissingPackageError` naming it), its key from `apiKey` or the provider's usual
 * environment variable. A model without a key is a `ConfigError` naming it, together with every other problem of
 * the options.
 */
export function withNativeProviders<O extends LlmResilienceOptions>(options: O, check: (o: O) => unknown): O {
  const models = options?.models;
  if (!Array.isArray(models) || !models.some((m) => isNative(m?.provider) || (Array.isArray(m?.deployments) && m.deployments.some((d) => isNative(d?.provider))))) return options;
  const problems: { path: string; message: string }[] = [];
  const mapped = models.map((m, i) => {
    if (Array.isArray(m?.deployments)) return withNativeDeployments(m, i, problems, options.fetch);
    if (!isNative(m?.provider)) return m;
    const native = NATIVE[m.provider];
    const apiKey = m.apiKey ?? native.keyVars.map((v) => process.env[v]).find((k) => k !== undefined && k !== '');
    if (apiKey === undefined) {
      problems.push({ path: `/models/${i}/apiKey`, message: `is required when ${native.keyVars.join(' or ')} is not set` });
      return { ...m, provider: undefined, apiKey: 'unset' };
    }
    return { ...m, provider: native.make({ apiKey, ...(m.baseURL ? { baseURL: m.baseURL } : {}) }, options.fetch), prefill: m.prefill ?? native.prefill };
  });
  const next = { ...options, models: mapped } as O;
  if (problems.length > 0) {
    try {
      check(next);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
    }
    throw new ConfigError(problems);
  }
  return next;
}

type Model = LlmResilienceOptions['models'][number];

/**
 * A model with `deployments`: each deployment answered by a native family (its own `provider`, else the model's) is
 * given a provider of its own, with its own key (`apiKey`: the deployment's, the model's, else the family's
 * variable) and `baseURL`; the model's native `provider` then names no provider of its own (every deployment has one).
 */
function withNativeDeployments(m: Model, i: number, problems: { path: string; message: string }[], fetch: typeof globalThis.fetch | undefined): Model {
  const deployments = (m.deployments ?? []).map((d, j) => {
    const family = d?.provider ?? m.provider;
    if (!isNative(family)) return d;
    const native = NATIVE[family];
    const apiKey = d.apiKey ?? m.apiKey ?? native.keyVars.map((v) => process.env[v]).find((k) => k !== undefined && k !== '');
    if (apiKey === undefined) {
      problems.push({ path: `/models/${i}/deployments/${j}/apiKey`, message: `is required when the model has no apiKey and ${native.keyVars.join(' or ')} is not set` });
      return { ...d, provider: undefined, apiKey: 'unset' };
    }
    const baseURL = d.baseURL ?? m.baseURL;
    return { ...d, provider: native.make({ apiKey, ...(baseURL ? { baseURL } : {}) }, fetch) };
  });
  if (!isNative(m.provider)) return { ...m, deployments };
  return { ...m, deployments, provider: undefined, prefill: m.prefill ?? NATIVE[m.provider].prefill };
}
