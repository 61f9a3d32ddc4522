import { LlmEngine as CoreEngine } from './core/engine';
import { OPENAI_DEFAULTS } from './defaults';
import type { LlmResilienceOptions } from './koa/types';
import { resolveOptions } from './core/options/resolve-options';
import { withNativeProviders } from './providers/native-providers';

/**
 * The framework-free engine: cache → breaker per model → fallback chain, with the library's defaults (models
 * without a provider of their own answer through the openai SDK; `provider: 'anthropic' | 'gemini'` through the
 * official Anthropic and Google SDKs). Create it once per app; `close()` releases it.
 */
export class LlmEngine extends CoreEngine {
  constructor(options: LlmResilienceOptions) {
    super(withNativeProviders(options, (o) => resolveOptions(o)), OPENAI_DEFAULTS);
  }
}

export function createEngine(options: LlmResilienceOptions): LlmEngine {
  return new LlmEngine(options);
}
