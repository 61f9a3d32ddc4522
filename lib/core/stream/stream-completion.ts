import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import { StreamInterruptedError } from '../../errors/stream-interrupted-error';
import type { AttemptRecord, ChatMessage, CompletionRequest, StreamResult } from '../../types';
import { cacheKey, scopeOf } from '../cache/cache-key';
import { contextLengthError } from '../context/context-verdict';
import { costUsd, type CallContext, type Layers, nextRequestId, passesValidate } from '../complete';
import type { EventBus } from '../events/event-bus';
import { rejectedRequest } from '../fallback/attempt-failure';
import { CALLER_GONE, closedError, elapsed, type FallbackChain, toFailure } from '../fallback/fallback-chain';
import { attemptTimeoutFrom } from '../latency/adaptive-timeout';
import type { ResolvedModel } from '../options/resolve-options';
import { normalizeRequest } from '../request/normalize-request';
import { errorOutline, summarize } from '../observability/request-summary';
import { AbortLatch, anyAborted } from '../signals';
import { AsyncQueue } from './async-queue';
import { LlmStream } from './llm-stream';
import { runStreamAttempt, type StreamAttemptResult } from './stream-attempt';

/** What the next model is asked when it must continue another model's interrupted answer. */
export const CONTINUE_INSTRUCTION =
  'Your previous answer was cut off. Continue it exactly where it stopped, without repeating anything and without any preamble.';

/**
 * The chain, streamed: yields text deltas, returns the `StreamResult`. Until the first content token any
 * failure moves on to the next model invisibly; after it the stream is committed and a failure either ends
 * it with `StreamInterruptedError` or, with `midStream: 'continue'`, is continued by the next model.
 */
export function llmStream(chain: FallbackChain, layers: Layers, events: EventBus, request: CompletionRequest, call: CallContext = {}): LlmStream {
  // the walk records into it, so that a stream its consumer abandons still says what it had tried
  const attempts: AttemptRecord[] = [];
  return new LlmStream(streamCompletion(chain, layers, events, request, call, attempts), attempts);
}

/** The generator behind `llmStream`; `attempts` receives every attempt as it is recorded. */
export async function* streamCompletion(
  chain: FallbackChain,
  layers: Layers,
  events: EventBus,
  request: CompletionRequest,
  call: CallContext = {},
  attempts: AttemptRecord[] = [],
): AsyncGenerator<string, StreamResult> {
  if (!events.mayWantRequest()) return yield* streamInner(chain, layers, events, request, call, attempts);
  const started = performance.now();
  const requestId = call.requestId ?? nextRequestId();
  let reported = false;
  try {
    const r = yield* streamInner(chain, layers, events, request, { ...call, requestId }, attempts);
    reported = true;
    if (events.wantsRequest(r)) events.emit('request', summarize('stream', requestId, request, call.task, chain, started, r, null));
    return r;
  } catch (err) {
    reported = true;
    if (events.wantsRequest(errorOutline(err))) events.emit('request', summarize('stream', requestId, request, call.task, chain, started, null, err));
    throw err;
  } finally {
    if (!reported) {
      const aborted = new RequestAbortedError('The stream was abandoned by its consumer', { attempts });
      if (events.wantsRequest(errorOutline(aborted))) events.emit('request', summarize('stream', requestId, request, call.task, chain, started, null, aborted));
    }
  }
}

async function* streamInner(
  chain: FallbackChain,
  layers: Layers,
  events: EventBus,
  request: CompletionRequest,
  call: CallContext,
  attempts: AttemptRecord[],
): AsyncGenerator<string, StreamResult> {
  const started = performance.now();
  const req = normalizeRequest(request, chain.models, chain.policy, call.task);
  const requestId = call.requestId ?? nextRequestId();
  const consumerGone = new AbortLatch();
  const signals = [req.signal, call.signal, consumerGone];
  let finished = false;
  /** The attempt being read, until it ends: a consumer that stops reading interrupts it (recorded in `finally`). */
  let current: { model: ResolvedModel; started: number } | null = null;
  try {
    const cache = req.useCache ? layers.cache : null;
    const key = cache ? cacheKey(req, scopeOf(call.scope)) : '';
    const hit = cache ? (cache.store ? await cache.lookup(key) : cache.get(key)) : undefined;
    // as for complete(): a cached answer must still pass this request's own `validate` hook
    if (cache && hit && (await passesValidate(req, hit))) {
      cache.events.emit('cache:hit', { requestId, key, latencyMs: Math.round((performance.now() - started) * 100) / 100 });
      call.onStreamStart?.({ model: hit.model, fallback: hit.fallback, cached: true, attempts: 0 });
      for (const piece of hit.text.match(/\S+\s*|\s+/g) ?? [hit.text]) yield piece;
      finished = true;
      const replay: StreamResult = {
        text: hit.text,
        model: hit.model,
        providerModel: hit.providerModel,
        cached: true,
        fallback: hit.fallback,
        resumed: false,
        attempts: [],
        usage: { ...hit.usage },
        finishReason: hit.finishReason,
        firstTokenMs: null,
        latencyMs: elapsed(started),
      };
      if (hit.json !== undefined) replay.json = hit.json;
      return replay;
    }
    if (cache) cache.events.emit('cache:miss', { requestId, key });

    const deadlineAt = req.deadlineMs === undefined ? Infinity : started + req.deadlineMs;
    const context = chain.contextPlan(req);
    const state = { tooLongFor: undefined as number | undefined };
    let text = '';
    let committed = false;
    let resumed = false;
    let firstTokenMs: number | null = null;
    const walked = req.chain;
    if (chain.closed) throw closedError();

    for (let i = 0; i < walked.length; i++) {
      if (anyAborted(signals)) throw new RequestAbortedError('The request was cancelled', { attempts });
      if (deadlineAt - performance.now() < 1) break;
      const model = walked[i];
      const prepared = chain.prepare(model, req, layers.breakers, context, state.tooLongFor);
      if (!prepared.ok) {
        chain.record(attempts, requestId, prepared.skip);
        chain.emitFallback(requestId, model, walked[i + 1], prepared.skip.outcome);
        continue;
      }
      if (chain.fleet && !(await chain.mayProbe(model, layers.breakers))) {
        chain.record(attempts, requestId, { model: model.name, outcome: 'circuit_open', latencyMs: 0, message: 'another process is probing' });
        chain.emitFallback(requestId, model, walked[i + 1], 'circuit_open');
        continue;
      }
      const messages: ChatMessage[] = committed
        ? [...prepared.messages, { role: 'assistant', content: text }, { role: 'user', content: CONTINUE_INSTRUCTION }]
        : prepared.messages;
      const breaker = layers.breakers?.for(model.name);
      // As for complete(): the full fixed budget for a half-open probe and for the last model of the chain.
      const fixed = breaker?.state === 'half_open' || i === walked.length - 1;
      const ownBudget = fixed ? model.firstTokenTimeoutMs : firstTokenTimeout(chain, model, req.task);
      const firstTokenBudget = req.timeoutMs ?? ownBudget;
      const queue = new AsyncQueue<string>();
      const attemptStart = performance.now();
      const deadlineSet = chain.deadlineSetByRequest(req);
      const requestLimits = req.timeoutMs !== undefined || deadlineSet ? { timeoutSet: req.timeoutMs !== undefined, deadlineSet, usualFirstTokenMs: fixed ? firstTokenTimeout(chain, model, req.task) : ownBudget } : undefined;
      const run = () => runStreamAttempt(chain.upstream, model, req, messages, signals, queue, { firstTokenMs: firstTokenBudget, idleMs: model.idleTimeoutMs, deadlineAt, requestLimits });
      chain.trackInFlight(model.name, 1);
      const budgetUsd = prepared.budgetUsd;
      if (budgetUsd > 0) chain.spend.reserve(budgetUsd);
      const done: Promise<StreamAttemptResult> = (breaker ? breaker.run(run) : run()).then(
        (r) => {
          queue.end();
          return r;
        },
        (err: unknown) => {
          queue.fail(err);
          throw err;
        },
      );
      void done.catch(() => undefined).finally(() => {
        chain.trackInFlight(model.name, -1);
        if (budgetUsd > 0) chain.spend.release(budgetUsd);
      });
      current = { model, started: attemptStart };
      try {
        for await (const delta of queue) {
          if (firstTokenMs === null) firstTokenMs = Math.round(performance.now() - started);
          if (!committed) call.onStreamStart?.({ model: model.name, fallback: i > 0, cached: false, attempts: attempts.length + 1 });
          committed = true;
          text += delta;
          yield delta;
        }
        const r = await done;
        current = null;
        const latencyMs = elapsed(attemptStart);
        chain.record(attempts, requestId, { model: model.name, outcome: 'success', latencyMs });
        if (r.answer.finishReason !== 'length') chain.latency.record(model.name, req.task, latencyMs, req.maxTokens);
        chain.firstTokenLatency.record(model.name, req.task, r.firstTokenMs, req.maxTokens);
        chain.recordSpend(model, r.answer.usage);
        finished = true;
        const usage = { ...r.answer.usage, ...withCost(model, r.answer.usage) };
        const result: StreamResult = {
          text,
          model: model.name,
          providerModel: r.answer.providerModel,
          cached: false,
          fallback: i > 0,
          resumed,
          attempts,
          usage,
          finishReason: r.answer.finishReason,
          firstTokenMs,
          latencyMs: elapsed(started),
        };
        if (r.json !== undefined) result.json = r.json;
        if (cache && r.answer.finishReason === 'stop') {
          cache.set(key, { text, model: model.name, providerModel: r.answer.providerModel, fallback: i > 0, usage, finishReason: 'stop', ...(r.json !== undefined ? { json: r.json } : {}) });
        }
        return result;
      } catch (err) {
        current = null;
        const f = toFailure(err);
        if (f.callerAborted || consumerGone.aborted) {
          chain.record(attempts, requestId, { model: model.name, outcome: 'cancelled', latencyMs: elapsed(attemptStart), message: CALLER_GONE });
          throw new RequestAbortedError('The request was cancelled', { cause: err, attempts });
        }
        const record: AttemptRecord = { model: model.name, outcome: f.outcome, latencyMs: elapsed(attemptStart), message: f.message };
        if (f.status !== undefined) record.status = f.status;
        chain.record(attempts, requestId, record);
        if (!f.fallThrough) throw rejectedRequest(model.name, f);
        chain.learnFrom(model, f, state);
        if (committed) {
          if (req.midStream !== 'continue' || i + 1 >= walked.length) throw new StreamInterruptedError(attempts, text.length);
          resumed = true; // the next model continues the partial answer
        }
        chain.emitFallback(requestId, model, walked[i + 1], f.outcome);
      }
    }
    if (committed) throw new StreamInterruptedError(attempts, text.length);
    throw contextLengthError(walked, attempts) ?? new AllModelsFailedError(attempts, chain.retryAfterS(walked, layers.breakers));
  } finally {
    // The consumer stopped early (client gone) or we failed: whatever is still running is cancelled.
    if (!finished) {
      if (current) chain.record(attempts, requestId, { model: current.model.name, outcome: 'cancelled', latencyMs: elapsed(current.started), message: CALLER_GONE });
      consumerGone.abort();
    }
  }
}

function withCost(model: ResolvedModel, u: StreamResult['usage']): { costUsd?: number } {
  const c = costUsd(model, u);
  return c === undefined ? {} : { costUsd: c };
}

function firstTokenTimeout(chain: FallbackChain, model: ResolvedModel, task: string | undefined): number {
  return attemptTimeoutFrom(model.firstTokenTimeoutMs, chain.firstTokenLatency.window(model.name, task, chain.adaptive ? chain.adaptive.minSamples : Infinity), chain.adaptive, undefined);
}
