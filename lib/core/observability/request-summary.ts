import { createHash } from 'node:crypto';
import { LlmResilienceError } from '../../errors/llm-resilience-error';
import type { AttemptRecord, CompletionRequest, RequestSummary, StreamResult, CompletionResult } from '../../types';
import { stableStringify } from '../cache/stable-stringify';
import type { FallbackChain } from '../fallback/fallback-chain';

/** SHA-256 (hex, 16 chars) of the messages: correlates requests without keeping prompts. */
export function promptHash(request: CompletionRequest): string {
  const messages = request?.messages ?? (request?.prompt !== undefined ? [{ role: 'user', content: request.prompt }] : []);
  return createHash('sha256').update(stableStringify(messages)).digest('hex').slice(0, 16);
}

/** The `request` event's payload for a call that ended with `result` or `error`. */
export function summarize(
  kind: RequestSummary['kind'],
  requestId: string,
  request: CompletionRequest,
  defaultTask: string | undefined,
  chain: FallbackChain,
  started: number,
  result: CompletionResult | StreamResult | null,
  error: unknown,
): RequestSummary {
  const names = Array.isArray(request?.models) ? request.models.filter((m) => typeof m === 'string') : chain.models.map((m) => m.name);
  const task = typeof request?.task === 'string' ? request.task : defaultTask;
  const first = names.length ? chain.models.find((m) => m.name === names[0]) : undefined;
  const latencyMs = Math.round((performance.now() - started) * 100) / 100;
  const requestedModel = first?.model ?? null;
  // The prompt is hashed on first read only: most requests are never logged or reviewed. (A getter in the
  // literal itself: spreading an object with a getter would run it.)
  let hash: string | undefined;
  let summary: RequestSummary;
  if (result) {
    summary = {
      requestId,
      kind,
      chain: names,
      outcome: 'success',
      model: result.model,
      cached: result.cached,
      fallback: result.fallback,
      hedged: 'hedged' in result ? result.hedged : false,
      attempts: result.attempts,
      usage: result.usage,
      latencyMs,
      get promptHash(): string {
        return (hash ??= promptHash(request));
      },
      text: result.text,
      finishReason: result.finishReason,
      requestedModel,
      providerModel: result.providerModel,
    };
  } else {
    const e = error as { code?: unknown; attempts?: AttemptRecord[] };
    const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
    const outcome: RequestSummary['outcome'] =
      code === 'REQUEST_ABORTED' ? 'aborted' : code === 'REQUEST_INVALID' || code === 'REQUEST_TOO_LARGE' || code === 'UPSTREAM_REJECTED_REQUEST' ? 'rejected' : 'failed';
    summary = {
      requestId,
      kind,
      chain: names,
      outcome,
      model: null,
      cached: false,
      fallback: false,
      hedged: false,
      attempts: Array.isArray(e?.attempts) ? [...e.attempts] : [],
      usage: null,
      latencyMs,
      get promptHash(): string {
        return (hash ??= promptHash(request));
      },
      text: null,
      finishReason: null,
      requestedModel,
      providerModel: null,
      error: { code, message: error instanceof LlmResilienceError ? error.message : 'unexpected error' },
    };
  }
  if (task !== undefined) summary.task = task;
  return summary;
}
