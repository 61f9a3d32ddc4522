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
  if (!Array.isArray(models) || !models.some((m) => isNative(m?.provider))) return options;
  const problems: { path: string; message: string }[] = [];
  const mapped = models.map((m, i) => {
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
