import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import { RequestError } from '../../errors/request-error';
import type { AttemptRecord } from '../../types';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import { isOpenBreakerRejection } from '../breaker/model-breaker';
import type { EventBus } from '../events/event-bus';
import type { ResolvedModel, ResolvedOptions } from '../options/resolve-options';
import type { NormalizedRequest, PromptLimits } from '../request/normalize-request';
import { loadTokenizer } from '../request/prompt-size';
import { anyAborted } from '../signals';
import { OpenAIUpstream, type UpstreamAnswer } from '../upstream/openai-upstream';
import { AttemptFailure, type FailureClass } from './attempt-failure';
import { Cooldowns } from './cooldowns';
import { runAttempt } from './run-attempt';

export interface ChainSuccess {
  answer: UpstreamAnswer;
  model: ResolvedModel;
  /** Position of the answering model in the chain that was walked. */
  index: number;
  attempts: AttemptRecord[];
}

/** Walks the chain: skips models in cool-down or with an open breaker, falls through on failure. */
export class FallbackChain {
  readonly models: readonly ResolvedModel[];
  readonly upstream: OpenAIUpstream;
  readonly cooldowns: Cooldowns;
  readonly limits: PromptLimits;

  constructor(
    options: Pick<ResolvedOptions, 'models' | 'rateLimit' | 'maxPromptChars' | 'maxPromptTokens' | 'fetch'>,
    readonly events: EventBus,
  ) {
    this.models = options.models;
    this.limits = { maxPromptChars: options.maxPromptChars, maxPromptTokens: options.maxPromptTokens };
    if (options.maxPromptTokens !== undefined) loadTokenizer();
    this.upstream = new OpenAIUpstream(options.models, options.fetch);
    this.cooldowns = new Cooldowns(options.rateLimit.defaultCooldownMs, options.rateLimit.maxCooldownMs);
  }

  async run(
    req: NormalizedRequest,
    breakers: BreakerRegistry | null,
    signals: readonly (AbortSignal | undefined)[],
    requestId: string,
  ): Promise<ChainSuccess> {
    const attempts: AttemptRecord[] = [];
    const chain = req.chain;
    for (let index = 0; index < chain.length; index++) {
      if (anyAborted(signals)) throw new RequestAbortedError('The request was cancelled');
      const model = chain[index];
      const skip = this.#skipReason(model, breakers);
      if (skip) {
        this.#record(attempts, requestId, skip);
        this.#emitFallback(requestId, chain, index, skip.outcome);
        continue;
      }
      const timeoutMs = req.timeoutMs ?? model.timeoutMs;
      const started = performance.now();
      try {
        const attempt = () => runAttempt(this.upstream, model, req, signals, timeoutMs);
        const answer = breakers ? await breakers.for(model.name).run(attempt) : await attempt();
        this.#record(attempts, requestId, { model: model.name, outcome: 'success', latencyMs: elapsed(started) });
        return { answer, model, index, attempts };
      } catch (err) {
        const failure = toFailure(err);
        if (failure.callerAborted) throw new RequestAbortedError('The request was cancelled', { cause: err });
        const record: AttemptRecord = { model: model.name, outcome: failure.outcome, latencyMs: elapsed(started), message: failure.message };
        if (failure.status !== undefined) record.status = failure.status;
        this.#record(attempts, requestId, record);
        if (!failure.fallThrough) {
          throw new RequestError(`The provider rejected the request: ${failure.message}`, [failure.message], {
            code: 'UPSTREAM_REJECTED_REQUEST',
          });
        }
        if (failure.outcome === 'rate_limited') this.cooldowns.start(model.name, failure.retryAfterMs);
        this.#emitFallback(requestId, chain, index, failure.outcome);
      }
    }
    throw new AllModelsFailedError(attempts, this.retryAfterS(chain, breakers));
  }

  /** Seconds until the earliest model of `chain` may be tried again; at least 1. */
  retryAfterS(chain: readonly ResolvedModel[], breakers: BreakerRegistry | null, now = Date.now()): number {
    let earliest = Infinity;
    for (const m of chain) {
      const until = Math.max(this.cooldowns.until(m.name, now) ?? now, breakers?.peek(m.name)?.halfOpenAt ?? now);
      earliest = Math.min(earliest, until);
    }
    return Math.max(1, Math.ceil((earliest - now) / 1000));
  }

  close(): void {
    this.upstream.close();
  }

  #skipReason(model: ResolvedModel, breakers: BreakerRegistry | null): AttemptRecord | null {
    const coolUntil = this.cooldowns.until(model.name);
    if (coolUntil !== null) {
      return { model: model.name, outcome: 'rate_limited', latencyMs: 0, message: `cooling down for ${coolUntil - Date.now()} ms` };
    }
    if (breakers && !breakers.for(model.name).canAttempt()) {
      return { model: model.name, outcome: 'circuit_open', latencyMs: 0, message: 'circuit open' };
    }
    return null;
  }

  #record(attempts: AttemptRecord[], requestId: string, record: AttemptRecord): void {
    attempts.push(record);
    if (this.events.has('attempt')) this.events.emit('attempt', { ...record, requestId, index: attempts.length - 1 });
  }

  #emitFallback(requestId: string, chain: readonly ResolvedModel[], index: number, reason: AttemptRecord['outcome']): void {
    const next = chain[index + 1];
    if (next && this.events.has('fallback')) this.events.emit('fallback', { requestId, from: chain[index].name, to: next.name, reason });
  }
}

function toFailure(err: unknown): FailureClass {
  if (err instanceof AttemptFailure) return err.failure;
  if (isOpenBreakerRejection(err)) {
    return { outcome: 'circuit_open', countsAsFailure: false, fallThrough: true, callerAborted: false, message: 'circuit open' };
  }
  return { outcome: 'error', countsAsFailure: true, fallThrough: true, callerAborted: false, message: 'unexpected error' };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
