import { loadOptional, OPTIONAL_PACKAGES } from '../../core/load-optional';

/**
 * The `@google/genai` SDK, an optional peer dependency: loaded when the first Gemini provider is made (never by
 * `require('koa-llm-resilience')`), so an app without Gemini models needs neither the package nor its load time.
 */
let sdk: typeof import('@google/genai') | undefined;

export function geminiSdk(): typeof import('@google/genai') {
  sdk ??= loadOptional<typeof import('@google/genai')>(OPTIONAL_PACKAGES.googleGenai);
  return sdk;
}
