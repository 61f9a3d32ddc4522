import { AllModelsFailedError } from '../../errors/all-models-failed-error';
import { RequestAbortedError } from '../../errors/request-aborted-error';
import { StreamInterruptedError } from '../../errors/stream-interrupted-error';
import type { AttemptRecord, ChatMessage, CompletionRequest, StreamResult } from '../../types';
import { cacheKey, scopeOf } from '../cache/cache-key';
import { contextLengthError } from '../context/context-verdict';
import { costUsd, type CallContext, type Layers, nextRequestId, passesValidate } from '../complete';
import type { EventBus } from '../events/event-bus';
import { AttemptFailure, type FailureClass, rejectedRequest } from '../fallback/attempt-failure';
import { CALLER_GONE, closedError, elapsed, type FallbackChain, toFailure } from '../fallback/fallback-chain';
import { attemptTimeoutFrom } from '../latency/adaptive-timeout';
import type { ResolvedModel } from '../options/resolve-options';
import { normalizeRequest, type NormalizedRequest } from '../request/normalize-request';
import { errorOutline, summarize } from '../observability/request-summary';
import { type AbortSource, AbortLatch, anyAborted, linkSignals, unlessAborted } from '../signals';
import { timerDelay } from '../timer-delay';
import { classifyError } from '../upstream/classify-error';
import type { UpstreamAnswer } from '../upstream/openai-upstream';
import { checkAnswer } from '../validation/answer-check';
import { AsyncQueue } from './async-queue';
import { ContinuationCheck } from './continuation-check';
import { LlmStream } from './llm-stream';
import { runStreamAttempt, type StreamAttemptResult } from './stream-attempt';

/** A continuation that began the answer again instead of going on from where it stopped. */
const STARTED_OVER: FailureClass = {
  outcome: 'invalid',
  countsAsFailure: true,
  fallThrough: true,
  callerAborted: false,
  message: 'the continuation repeated the answer (started it over) instead of continuing it',
};
/** Why a stream was not continued, when no later model could. */
const NO_CONTINUER = 'no later model can continue an answer (none left has prefill: true)';
/** Why a stream was not continued when its whole answer failed the answer checks after it was delivered. */
const ANSWER_REJECTED = 'the joined answer failed its checks (schema or validate) and what was sent cannot be taken back: it is not continued';

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
    // With 'continue', the rules that judge the whole answer (schema, validate) are applied here, to the whole joined
    // text, not by each attempt to its own part; and a whole answer they reject is not continued (it was delivered).
    const continuable = req.midStream === 'continue';
    const joinedChecks = continuable && (req.schemaFn !== undefined || req.validate !== undefined);
    const attemptReq: typeof req = joinedChecks ? { ...req, schemaFn: undefined, validate: undefined } : req;

    for (let i = 0; i < walked.length; i++) {
      if (anyAborted(signals)) throw new RequestAbortedError('The request was cancelled', { attempts });
      if (deadlineAt - performance.now() < 1) break;
      const model = walked[i];
      // once the answer has started, only a model that continues a trailing assistant message may take it over
      if (committed && !model.prefill) continue;
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
      // A continuation is the conversation plus the partial answer as a trailing assistant message (a prefill), and
      // nothing else: its first characters are held back until its `ContinuationCheck` knows it did not start over.
      const continuing = committed;
      const partial = text;
      const messages: ChatMessage[] = continuing ? withPrefill(prepared.messages, partial) : prepared.messages;
      const check = continuing ? new ContinuationCheck(partial) : null;
      const stop = continuing ? new AbortLatch() : null;
      let startedOver = false;
      let answerRejected = false;
      const breaker = layers.breakers?.for(model.name);
      // As for complete(): the full fixed budget for a half-open probe and for the last model of the chain.
      const fixed = breaker?.state === 'half_open' || i === walked.length - 1;
      const ownBudget = fixed ? model.firstTokenTimeoutMs : firstTokenTimeout(chain, model, req.task);
      const firstTokenBudget = req.timeoutMs ?? ownBudget;
      const queue = new AsyncQueue<string>();
      const attemptStart = performance.now();
      const deadlineSet = chain.deadlineSetByRequest(req);
      const requestLimits = req.timeoutMs !== undefined || deadlineSet ? { timeoutSet: req.timeoutMs !== undefined, deadlineSet, usualFirstTokenMs: fixed ? firstTokenTimeout(chain, model, req.task) : ownBudget } : undefined;
      const plain = (): Promise<StreamAttemptResult> =>
        runStreamAttempt(chain.upstream, model, attemptReq, messages, stop ? [...signals, stop] : signals, queue, { firstTokenMs: firstTokenBudget, idleMs: model.idleTimeoutMs, deadlineAt, requestLimits });
      // a continuation is checked for a restart, and with 'continue' the whole answer is judged here (see above)
      const run = !check && !joinedChecks ? plain : async (): Promise<StreamAttemptResult> => {
        let r: StreamAttemptResult;
        try {
          r = await plain();
        } catch (err) {
          if (startedOver) throw new AttemptFailure(STARTED_OVER, { cause: err });
          throw err;
        }
        if (check?.verdict(r.answer.text, true) === 'starts_over') {
          startedOver = true;
          throw new AttemptFailure(STARTED_OVER);
        }
        if (!joinedChecks) return r;
        try {
          const { json } = await checkJoined({ ...r.answer, text: partial + r.answer.text }, model, req, signals, Math.min(model.idleTimeoutMs, deadlineAt - performance.now()));
          return json === undefined ? r : { ...r, json };
        } catch (err) {
          if (err instanceof AttemptFailure && !err.failure.callerAborted) answerRejected = true;
          throw err;
        }
      };
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
      let held = check ? '' : null;
      try {
        for await (const delta of queue) {
          if (startedOver) continue; // the attempt is being cancelled: nothing more of it is delivered
          if (held !== null && check) {
            held += delta;
            const verdict = check.verdict(held, false);
            if (verdict === 'undecided') continue;
            if (verdict === 'starts_over') {
              startedOver = true;
              stop?.abort();
              continue;
            }
            text += held;
            yield held;
            held = null;
            continue;
          }
          if (firstTokenMs === null) firstTokenMs = Math.round(performance.now() - started);
          if (!committed) call.onStreamStart?.({ model: model.name, fallback: i > 0, cached: false, attempts: attempts.length + 1 });
          committed = true;
          text += delta;
          yield delta;
        }
        const r = await done;
        if (startedOver) throw new AttemptFailure(STARTED_OVER);
        // the attempt judged its whole text (`run`): what was still held back continues the answer
        if (held) {
          text += held;
          yield held;
        }
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
        // (once the answer has started, a request the provider rejects is an interruption like any other)
        if (!f.fallThrough && !committed) throw rejectedRequest(model.name, f);
        chain.learnFrom(model, f, state);
        let next: ResolvedModel | undefined = walked[i + 1];
        if (committed) {
          if (!continuable) throw new StreamInterruptedError(attempts, text.length);
          if (answerRejected) throw new StreamInterruptedError(attempts, text.length, ANSWER_REJECTED);
          next = walked.find((m, j) => j > i && m.prefill);
          if (!next) throw new StreamInterruptedError(attempts, text.length, NO_CONTINUER);
          resumed = true; // the next model able to continues the partial answer
        }
        chain.emitFallback(requestId, model, next, f.outcome);
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

/** The conversation with the partial answer as its trailing assistant message (appended to one already there). */
function withPrefill(messages: readonly ChatMessage[], partial: string): ChatMessage[] {
  const last = messages[messages.length - 1];
  if (last?.role === 'assistant' && typeof last.content === 'string') return [...messages.slice(0, -1), { ...last, content: last.content + partial }];
  return [...messages, { role: 'assistant', content: partial }];
}

/**
 * The answer checks (finish reason, schema, `validate`) on a stream's whole joined text, bounded as an attempt's
 * own check is: by the model's idle timeout (or what is left of the deadline). Throws an `AttemptFailure`.
 */
async function checkJoined(answer: UpstreamAnswer, model: ResolvedModel, req: NormalizedRequest, signals: readonly (AbortSource | undefined)[], boundMs: number): Promise<{ json?: unknown }> {
  const limit = new AbortLatch();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    limit.abort();
  }, timerDelay(boundMs));
  timer.unref();
  const unlink = linkSignals(limit, signals);
  try {
    return await unlessAborted(checkAnswer(answer, model, req), limit);
  } catch (err) {
    const f = classifyError(err, { timedOut, callerAborted: anyAborted(signals), timeoutMs: Math.round(boundMs) });
    if (timedOut) f.message = 'validate() did not settle in time';
    throw new AttemptFailure(f, { cause: err });
  } finally {
    clearTimeout(timer);
    unlink();
  }
}

function withCost(model: ResolvedModel, u: StreamResult['usage']): { costUsd?: number } {
  const c = costUsd(model, u);
  return c === undefined ? {} : { costUsd: c };
}

function firstTokenTimeout(chain: FallbackChain, model: ResolvedModel, task: string | undefined): number {
  return attemptTimeoutFrom(model.firstTokenTimeoutMs, chain.firstTokenLatency.window(model.name, task, chain.adaptive ? chain.adaptive.minSamples : Infinity), chain.adaptive, undefined);
}
