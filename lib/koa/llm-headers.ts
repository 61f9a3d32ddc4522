import type { ParameterizedContext } from 'koa';
import type { CallContext } from '../core/complete';
import { isPlainHeaderValue, llmHeaderValues } from '../http/llm-header-values';
import type { CompletionResult } from '../types';

/** `exposeHeaders`: a `complete()` whose answer, once there, says on the response who answered. */
export function withResultHeaders(ctx: ParameterizedContext, done: Promise<CompletionResult>): Promise<CompletionResult> {
  return done.then((r) => {
    setLlmHeaders(ctx, r.model, r.fallback, r.cached, r.attempts.length);
    return r;
  });
}

/** `exposeHeaders`: the stream's call context, told to set who streams at the first piece (if the response has not started). */
export function withStreamHeaders(ctx: ParameterizedContext, call: CallContext): CallContext {
  call.onStreamStart = (s) => {
    if (!ctx.headerSent) setLlmHeaders(ctx, s.model, s.fallback, s.cached, s.attempts);
  };
  return call;
}

/** Each value is checked where it is set too: one that is not plain visible ASCII is left out, never sent. */
function setLlmHeaders(ctx: ParameterizedContext, model: string, fallback: boolean, cached: CompletionResult['cached'], attempts: number): void {
  const values = llmHeaderValues(model, fallback, cached, attempts);
  for (const name of Object.keys(values)) if (isPlainHeaderValue(values[name])) ctx.set(name, values[name]);
}
