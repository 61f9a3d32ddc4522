import type { CompletionResult } from '../types';

/** `exposeHeaders`: what the response says about who answered (`x-llm-model`, `-fallback`, `-cache`, `-attempts`). */
export function llmHeaderValues(model: string, fallback: boolean, cached: CompletionResult['cached'], attempts: number): Record<string, string> {
  return {
    'x-llm-model': model,
    'x-llm-fallback': String(fallback),
    'x-llm-cache': cached === 'semantic' ? 'semantic' : cached ? 'hit' : 'miss',
    'x-llm-attempts': String(attempts),
  };
}
