import { createHash } from 'node:crypto';
import { LlmResilienceError } from '../../errors/llm-resilience-error';
import type { AttemptRecord, CompletionRequest, RequestSummary, StreamResult, CompletionResult } from '../../types';
import { stableStringify } from '../cache/stable-stringify';
import type { RequestOutline } from '../events/event-bus';
import type { FallbackChain } from '../fallback/fallback-chain';

/** SHA-256 (hex, 16 chars) of the messages: correlates requests without keeping prompts. */
export function promptHash(request: CompletionRequest): string {
  const messages = request?.messages ?? (request?.prompt !== undefined ? [{ role: 'user', content: request.prompt }] : []);
  return createHash('sha256').update(stableStringify(messages)).digest('hex').slice(0, 16);
}

/**
 * A `request` event payload. The prompt is hashed on first read only (most requests are never logged or
 * reviewed); `toJSON` includes the hash, so a serialised summary carries every field.
 */
class Summary implements RequestSummary {
  readonly requestId: string;
  readonly kind: RequestSummary['kind'];
  readonly chain: string[];
  readonly outcome: RequestSummary['outcome'];
  readonly model: string | null;
  readonly cached: boolean | 'semantic';
  readonly fallback: boolean;
  readonly hedged: boolean;
  readonly attempts: AttemptRecord[];
  readonly usage: RequestSummary['usage'];
  readonly latencyMs: number;
  readonly text: string | null;
  readonly finishReason: string | null;
  readonly requestedModel: string | null;
  readonly providerModel: string | null;
  declare readonly task?: string;
  declare readonly error?: { code: string; message: string };
  readonly #request: CompletionRequest;
  #hash: string | undefined = undefined;

  constructor(
    kind: RequestSummary['kind'],
    requestId: string,
    request: CompletionRequest,
    task: string | undefined,
    chain: FallbackChain,
    started: number,
    result: CompletionResult | StreamResult | null,
    error: unknown,
  ) {
    const names = Array.isArray(request?.models) ? request.models.filter((m) => typeof m === 'string') : chain.models.map((m) => m.name);
    const first = names.length ? chain.models.find((m) => m.name === names[0]) : undefined;
    this.requestId = requestId;
    this.kind = kind;
    this.chain = names;
    this.latencyMs = Math.round((performance.now() - started) * 100) / 100;
    this.requestedModel = first?.model ?? null;
    this.#request = request;
    if (result) {
      this.outcome = 'success';
      this.model = result.model;
      this.cached = result.cached;
      this.fallback = result.fallback;
      this.hedged = 'hedged' in result ? result.hedged : false;
      this.attempts = result.attempts;
      this.usage = result.usage;
      this.text = result.text;
      this.finishReason = result.finishReason;
      this.providerModel = result.providerModel;
    } else {
      const e = error as { code?: unknown; attempts?: AttemptRecord[] };
      const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
      this.outcome =
        code === 'REQUEST_ABORTED' ? 'aborted' : code === 'REQUEST_INVALID' || code === 'REQUEST_TOO_LARGE' || code === 'UPSTREAM_REJECTED_REQUEST' || code === 'TENANT_RATE_LIMITED' ? 'rejected' : 'failed';
      this.model = null;
      this.cached = false;
      this.fallback = false;
      this.hedged = false;
      this.attempts = Array.isArray(e?.attempts) ? [...e.attempts] : [];
      this.usage = null;
      this.text = null;
      this.finishReason = null;
      this.providerModel = null;
      (this as { error?: Summary['error'] }).error = { code, message: error instanceof LlmResilienceError ? error.message : 'unexpected error' };
    }
    if (task !== undefined) (this as { task?: string }).task = task;
  }

  get promptHash(): string {
    return (this.#hash ??= promptHash(this.#request));
  }

  toJSON(): RequestSummary {
    return { ...this, promptHash: this.promptHash };
  }
}

/** What a failed request's summary would say about fallback, cache and attempts (before building one). */
export function errorOutline(error: unknown): RequestOutline {
  const attempts = (error as { attempts?: unknown } | null)?.attempts;
  return { cached: false, fallback: false, attempts: Array.isArray(attempts) ? (attempts as AttemptRecord[]) : [] };
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
  const task = typeof request?.task === 'string' ? request.task : defaultTask;
  return new Summary(kind, requestId, request, task, chain, started, result, error);
}
