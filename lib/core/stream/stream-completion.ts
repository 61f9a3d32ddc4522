import { RequestAbortedError } from '../../errors/request-aborted-error';
import { StreamInterruptedError } from '../../errors/stream-interrupted-error';
import type { AttemptRecord, ChatMessage, CompletionRequest, StreamResult } from '../../types';
import { CacheLayer } from '../cache/cache-layer';
import { cachedStream, type StartWalk } from '../cache/cached-stream';
import { costUsd, type CallContext, type Layers, nextRequestId } from '../complete';
import type { EventBus } from '../events/event-bus';
import type { ModelBreaker } from '../breaker/model-breaker';
import { AttemptFailure, type FailureClass, failureClass } from '../fallback/attempt-failure';
import { type Admission, type AttemptMode, closedError, type WalkContext } from '../fallback/chain-walk';
import { fellBack } from '../fallback/deployment-order';
import type { FallbackChain } from '../fallback/fallback-chain';
import { elapsed, type Running, type Settled } from '../fallback/running-attempt';
import { type AttemptLimit, firstTokenLimit, type TimeoutPolicy } from '../fallback/timeout-rule';
import type { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedModel } from '../options/resolve-options';
import { normalizeRequest, type NormalizedRequest } from '../request/normalize-request';
import { errorOutline, summarize } from '../observability/request-summary';
import { type AbortSource, AbortLatch, anyAborted, linkSignals, unlessAborted } from '../signals';
import { timerDelay } from '../timer-delay';
import { classifyError } from '../upstream/classify-error';
import type { UpstreamAnswer } from '../provider/answer';
import { checkAnswer } from '../validation/answer-check';
import { type TenantLimits, type TenantTicket, tenantKeyOf } from '../limits/tenant-limits';
import { AsyncQueue } from './async-queue';
import { ContinuationCheck } from './continuation-check';
import { LlmStream } from './llm-stream';
import { type DeltaSink, runStreamAttempt, type StreamAttemptResult } from './stream-attempt';

/** A continuation that began the answer again instead of going on from where it stopped. */
const STARTED_OVER: FailureClass = failureClass(
  { kind: 'invalid_answer', reason: 'malformed' },
  'the continuation repeated the answer (started it over) instead of continuing it',
);
/** Why a stream was not continued, when no later model could. */
const NO_CONTINUER = 'no later model can continue an answer (none left has prefill: true)';
/** Why a stream was not continued when its whole answer failed the answer checks after it was delivered. */
const ANSWER_REJECTED = 'the joined answer failed its checks (schema or validate) and what was sent cannot be taken back: it is not continued';

/**
 * The chain, streamed: yields text deltas, returns the `StreamResult`. The chain is walked as for `complete()`
 * (`ChainWalk`: admission, timeouts, hedging, judging). Until the first content token any failure moves on to the
 * next model invisibly, and a model slow to its first token may be hedged with the next (the first to send a content
 * token is streamed, the other cancelled); after it the stream is committed and a failure either ends it with
 * `StreamInterruptedError` or, with `midStream: 'continue'`, is continued by the next model.
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
  const limits = chain.tenantLimits;
  // a tenant's stream: admitted by its limits (or refused) before the cache and the chain, settled when it ends
  const tenant = limits ? tenantKeyOf(call.tenant) : undefined;
  const ticket = limits && tenant !== undefined ? await limits.admit(tenant, req, requestId) : null;
  if (limits && ticket) return yield* settledStream(limits, ticket, streamOf(chain, layers, req, requestId, started, call, attempts));
  return yield* streamOf(chain, layers, req, requestId, started, call, attempts);
}

/** The stream of a normalized request: through the cache when it applies, else straight over the chain. */
async function* streamOf(
  chain: FallbackChain,
  layers: Layers,
  req: NormalizedRequest,
  requestId: string,
  started: number,
  call: CallContext,
  attempts: AttemptRecord[],
): AsyncGenerator<string, StreamResult> {
  // the walk over the chain, started by the cache layer for the call a flight makes (or for one of the stream's own)
  const walk: StartWalk = (how) => streamWalk(chain, layers, req, requestId, started, [how.signal], how.attempts, how);
  const cache = req.useCache ? layers.cache : null;
  if (cache) return yield* cachedStream(new CacheLayer(cache, req, call.scope, requestId, started), call, attempts, walk);
  const r = yield* streamWalk(chain, layers, req, requestId, started, [req.signal, call.signal], attempts, call);
  r.coalesced = false;
  return r;
}

/**
 * A tenant's stream, settled against its limits when it ends: with its usage, or with nothing when no upstream
 * call was made for it (a cache replay, another's answer) or it failed before its first piece. A stream that
 * failed or was left after it started keeps its estimate (its call ran).
 */
async function* settledStream(limits: TenantLimits, ticket: TenantTicket, inner: AsyncGenerator<string, StreamResult>): AsyncGenerator<string, StreamResult> {
  let delivered = false;
  let ended = false;
  try {
    for (;;) {
      const step = await inner.next();
      if (step.done) {
        ended = true;
        const r = step.value;
        limits.settle(ticket, r.cached || r.coalesced ? { upstream: false } : { upstream: true, usage: r.usage });
        return r;
      }
      delivered = true;
      yield step.value;
    }
  } finally {
    if (!ended) {
      if (!delivered) limits.settle(ticket, { upstream: false });
      await inner.return(undefined as never); // a consumer that stopped reading: the stream's own clean-up runs
    }
  }
}

/**
 * The chain, streamed, without the cache: yields the pieces, returns the result. `callerSignals` cancel it (besides a
 * consumer that stops reading); `call` is told who answers at the first piece.
 */
async function* streamWalk(
  chain: FallbackChain,
  layers: Layers,
  req: NormalizedRequest,
  requestId: string,
  started: number,
  callerSignals: readonly (AbortSource | undefined)[],
  attempts: AttemptRecord[],
  call: Pick<CallContext, 'onStreamStart'>,
): AsyncGenerator<string, StreamResult> {
  req = chain.withDeploymentOrder(req, true);
  const consumerGone = new AbortLatch();
  const signals = [...callerSignals, consumerGone];
  let finished = false;
  /** The attempt being read, until it ends: a consumer that stops reading interrupts it (recorded in `finally`). */
  let current: Running<LiveStream> | null = null;
  try {
    const deadlineAt = req.deadlineMs === undefined ? Infinity : started + req.deadlineMs;
    if (chain.closed) throw closedError();
    const walk = chain.walker;
    chain.hedgeBudget?.deposit();
    const w: WalkContext = { req, breakers: layers.breakers, signals, requestId, attempts, state: { tooLongFor: undefined }, context: chain.contextPlan(req), deadlineAt };
    // With 'continue', the rules that judge the whole answer (schema, validate) are applied here, to the whole joined
    // text, not by each attempt to its own part; and a whole answer they reject is not continued (it was delivered).
    const continuable = req.midStream === 'continue';
    const joinedChecks = continuable && (req.schemaFn !== undefined || req.validate !== undefined || req.jsonOnly);
    const attemptReq: typeof req = joinedChecks ? { ...req, schemaFn: undefined, validate: undefined, jsonOnly: false } : req;
    const streams = new StreamAttempts(chain, attemptReq, deadlineAt, joinedChecks);
    let resumed = false;
    let firstTokenMs: number | null = null;
    // The shared walk picks, bounds, hedges and judges each attempt until one commits (its first content token);
    // what follows is the stream's own: deliver it, and after a failure mid-stream, end or walk on for a continuation.
    for (let from = 0; ; ) {
      const { winner } = await walk.walk(streams, w, from);
      current = winner;
      const i = winner.index;
      const model = winner.model;
      const live = (winner.settled as Extract<Settled<LiveStream>, { ok: true }>).value;
      try {
        for await (const delta of live.queue) {
          if (firstTokenMs === null) firstTokenMs = Math.round(performance.now() - started);
          if (!streams.committed) call.onStreamStart?.({ model: model.name, fallback: fellBack(req.chain, model), cached: false, attempts: attempts.length + 1 });
          streams.committed = true;
          streams.text += delta;
          yield delta;
        }
        const r = await live.done;
        walk.streamed(winner, attempts, requestId, r.answer, r.firstTokenMs);
        current = null;
        finished = true;
        const text = streams.text;
        const usage = { ...r.answer.usage, ...withCost(model, r.answer.usage) };
        const result: StreamResult = {
          text,
          model: model.name,
          providerModel: r.answer.providerModel,
          cached: false,
          fallback: fellBack(req.chain, model),
          resumed,
          attempts,
          usage,
          finishReason: r.answer.finishReason,
          firstTokenMs,
          latencyMs: elapsed(started),
        };
        if (r.json !== undefined) result.json = r.json;
        if (r.answer.toolCalls !== undefined) result.toolCalls = r.answer.toolCalls;
        if (r.answer.refusal !== undefined) result.refusal = r.answer.refusal;
        return result;
      } catch (err) {
        current = null;
        // (a consumer that stopped reading is a caller gone, as an aborted signal is; once the answer has started, a
        // request the provider rejects is an interruption like any other)
        const f = walk.interrupted(winner, w, err, consumerGone.aborted);
        if (!continuable) throw new StreamInterruptedError(attempts, streams.text.length);
        if (live.answerRejected) throw new StreamInterruptedError(attempts, streams.text.length, ANSWER_REJECTED);
        const next = req.chain.find((m, j) => j > i && m.prefill);
        if (!next) throw new StreamInterruptedError(attempts, streams.text.length, NO_CONTINUER);
        resumed = true; // the next model able to continues the partial answer
        chain.emitFallback(requestId, model, next, f.outcome);
        from = i + 1;
      }
    }
  } finally {
    // The consumer stopped early (client gone) or we failed: whatever is still running is cancelled.
    if (!finished) {
      if (current) chain.walker.abandoned(current, attempts, requestId);
      consumerGone.abort();
    }
  }
}

/** A streamed attempt the walk started: its deltas as they may be delivered, and how it ends. */
class LiveStream {
  readonly queue = new AsyncQueue<string>();
  /** Resolves when the attempt has ended with its whole answer (checked); rejects with an `AttemptFailure`. */
  done!: Promise<StreamAttemptResult>;
  /** The joined answer failed the answer checks (schema, `validate`): it is not continued. */
  answerRejected = false;
}

/**
 * A stream's attempts, for the shared walk. Until the answer has started, an attempt answers (commits) at its first
 * content token, may be hedged on its time to first token, and a provider's rejection of the request is the
 * caller's 400. Once it has started, only a model with `prefill` may continue it (the conversation plus the partial
 * answer as a trailing assistant message, its first characters held back until its `ContinuationCheck` knows it did
 * not start over), handed over at once, never hedged.
 */
class StreamAttempts implements AttemptMode<LiveStream> {
  readonly whole = false;
  /** The answer has started (its first content token was handed out). */
  committed = false;
  /** The answer as delivered so far. */
  text = '';

  constructor(
    readonly chain: FallbackChain,
    /** The request as each attempt judges its own part (without the joined checks' schema and `validate`). */
    readonly attemptReq: NormalizedRequest,
    readonly deadlineAt: number,
    /** With `midStream: 'continue'`, the schema and `validate` judge the whole joined answer (see `checkJoined`). */
    readonly joinedChecks: boolean,
  ) {}

  get rejectable(): boolean {
    return !this.committed;
  }

  hedgeOn(): LatencyTracker | null {
    return this.committed ? null : this.chain.firstTokenLatency;
  }

  eligible(model: ResolvedModel): boolean {
    return !this.committed || model.prefill;
  }

  /** The timeout rule of complete(), on the first token (the deadline is the attempt's own timer here). */
  limit(policy: TimeoutPolicy, model: ResolvedModel, req: NormalizedRequest, fixed: boolean): AttemptLimit {
    return firstTokenLimit(policy, model, req, fixed, Infinity);
  }

  start(
    model: ResolvedModel,
    admitted: Admission,
    req: NormalizedRequest,
    signals: readonly (AbortSource | undefined)[],
    cancel: AbortLatch | null,
    limit: AttemptLimit,
    breaker: ModelBreaker | undefined,
  ): Promise<LiveStream> {
    const continuing = this.committed;
    const partial = this.text;
    const live = new LiveStream();
    const queue = live.queue;
    const stop = continuing ? new AbortLatch() : null;
    const held = stop ? new HeldBack(new ContinuationCheck(partial), queue, stop) : null;
    let commit: ((live: LiveStream) => void) | undefined;
    const committed = held ? null : new Promise<LiveStream>((resolve) => (commit = resolve));
    const sink: DeltaSink = held ?? {
      push: (delta) => {
        queue.push(delta);
        commit?.(live);
      },
    };
    const messages: ChatMessage[] = continuing ? withPrefill(admitted.messages, partial) : admitted.messages;
    const deadlineSet = this.chain.deadlineSetByRequest(req);
    const requestLimits = req.timeoutMs !== undefined || deadlineSet ? { timeoutSet: req.timeoutMs !== undefined, deadlineSet, usualFirstTokenMs: limit.usual } : undefined;
    const timers = { firstTokenMs: limit.timeoutMs, idleMs: model.idleTimeoutMs, deadlineAt: this.deadlineAt, requestLimits };
    const plain = (): Promise<StreamAttemptResult> =>
      runStreamAttempt(this.chain.upstream, model, this.attemptReq, messages, stop ? [...signals, stop] : signals, sink, timers, cancel ?? undefined);
    const joinedChecks = this.joinedChecks;
    // a continuation is checked for a restart, and with 'continue' the whole answer is judged here (see above)
    const run = !held && !joinedChecks ? plain : async (): Promise<StreamAttemptResult> => {
      let r: StreamAttemptResult;
      try {
        r = await plain();
      } catch (err) {
        if (held?.startedOver) throw new AttemptFailure(STARTED_OVER, { cause: err });
        throw err;
      }
      if (held?.endsOver(r.answer.text)) throw new AttemptFailure(STARTED_OVER);
      if (!joinedChecks) return r;
      try {
        const { json } = await checkJoined({ ...r.answer, text: partial + r.answer.text }, model, req, signals, Math.min(model.idleTimeoutMs, this.deadlineAt - performance.now()));
        return json === undefined ? r : { ...r, json };
      } catch (err) {
        if (err instanceof AttemptFailure && !err.failure.callerAborted) live.answerRejected = true;
        throw err;
      }
    };
    live.done = (breaker ? breaker.run(run) : run()).then(
      (r) => {
        held?.flush(); // the attempt judged its whole text (`run`): what was still held back continues the answer
        queue.end();
        return r;
      },
      (err: unknown) => {
        queue.fail(err);
        throw err;
      },
    );
    const done = live.done;
    void done.catch(() => undefined).finally(() => this.chain.walker.release(model, admitted));
    // a continuation goes on with an answer already delivered: it is the stream's at once
    if (!committed) return Promise.resolve(live);
    // committed at its first content token (or when it ends without one); failed before it
    return Promise.race([committed, done.then(() => live)]);
  }

  answered(): void {
    // its success, latency and spend are recorded when it ends (see `ChainWalk.streamed`)
  }

  failed(): void {
    // its call is released when it ends (see `start`)
  }

  exhausted(attempts: AttemptRecord[]): Error | undefined {
    return this.committed ? new StreamInterruptedError(attempts, this.text.length) : undefined;
  }
}

/** A continuation's first characters, held back until its `ContinuationCheck` knows it did not start the answer over. */
class HeldBack implements DeltaSink {
  #held: string | null = '';
  /** It started over: it is being cancelled, and nothing more of it is delivered. */
  startedOver = false;

  constructor(
    readonly check: ContinuationCheck,
    readonly queue: AsyncQueue<string>,
    readonly stop: AbortLatch,
  ) {}

  push(delta: string): void {
    if (this.startedOver) return;
    if (this.#held === null) return this.queue.push(delta);
    this.#held += delta;
    const verdict = this.check.verdict(this.#held, false);
    if (verdict === 'undecided') return;
    if (verdict === 'starts_over') {
      this.startedOver = true;
      this.stop.abort();
      return;
    }
    this.queue.push(this.#held);
    this.#held = null;
  }

  /** The whole continuation has come: whether it started over after all (judged on all of its text). */
  endsOver(text: string): boolean {
    if (this.check.verdict(text, true) === 'starts_over') this.startedOver = true;
    return this.startedOver;
  }

  /** Delivers what is still held back. */
  flush(): void {
    if (this.#held) this.queue.push(this.#held);
    this.#held = null;
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

