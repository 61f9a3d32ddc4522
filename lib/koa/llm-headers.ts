import type { ParameterizedContext } from 'koa';
import type { StreamStart } from '../core/complete';
import type { CompletionResult } from '../types';

/** `exposeHeaders`: who answered a `complete()`, on the response. */
export function setResultHeaders(ctx: ParameterizedContext, r: CompletionResult): void {
  setLlmHeaders(ctx, r.model, r.fallback, r.cached, r.attempts.length);
}

/** `exposeHeaders`: who streams, at the first piece, if the response has not started. */
export function setStreamHeaders(ctx: ParameterizedContext, s: StreamStart): void {
  if (!ctx.headerSent) setLlmHeaders(ctx, s.model, s.fallback, s.cached, s.attempts);
}

function setLlmHeaders(ctx: ParameterizedContext, model: string, fallback: boolean, cached: CompletionResult['cached'], attempts: number): void {
  ctx.set({
    'x-llm-model': model,
    'x-llm-fallback': String(fallback),
    'x-llm-cache': cached === 'semantic' ? 'semantic' : cached ? 'hit' : 'miss',
    'x-llm-attempts': String(attempts),
  });
}
