import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { AbortLatch, type AbortSource, anyAborted, linkSignals, unlessAborted } from '../signals';
import { classifyError } from '../upstream/classify-error';
import type { Providers } from '../provider/providers';
import { countedUsage, type UpstreamAnswer } from '../provider/answer';
import { checkAnswer, hookTimedOut } from '../validation/answer-check';
import { InvalidAnswerError } from '../validation/invalid-answer';
import { AttemptFailure, failureClass } from '../fallback/attempt-failure';
import { timerDelay } from '../timer-delay';
import type { ToolCall } from '../../types';

export interface StreamAttemptResult {
  answer: UpstreamAnswer;
  json?: unknown;
  firstTokenMs: number;
}

/** Where a streamed attempt hands its text deltas, as they arrive (an `AsyncQueue`, or what holds them back first). */
export interface DeltaSink {
  push(delta: string): void;
}

export interface StreamTimers {
  /** Until the first content token. */
  firstTokenMs: number;
  /** Between chunks once content flows. */
  idleMs: number;
  /** Absolute `performance.now()` deadline of the whole request. */
  deadlineAt: number;
  /**
   * The limits the request set itself: its own `timeoutMs` (the first-token budget), a deadline tighter than the
   * app's, and the time to first token the model usually needs (its adaptive first-token timeout once it has samples,
   * else its own). A timeout they cause before the model's usual time is not the model's failure.
   */
  requestLimits?: { timeoutSet: boolean; deadlineSet: boolean; usualFirstTokenMs: number };
}

/**
 * One streamed attempt: pushes text deltas into `queue` as they arrive and resolves when the stream has
 * properly ended (a finish reason). No first token in time, a stall between chunks, a cut connection or a
 * stream that ends without a finish reason are failures, thrown as `AttemptFailure`. `cancel` stops it as a hedge
 * that lost (outcome `cancelled`, counted neither way), as opposed to the caller's signals.
 */
export async function runStreamAttempt(
  upstream: Providers,
  model: ResolvedModel,
  req: NormalizedRequest,
  messages: NormalizedRequest['messages'],
  callerSignals: readonly (AbortSource | undefined)[],
  queue: DeltaSink,
  timers: StreamTimers,
  cancel?: AbortSource,
): Promise<StreamAttemptResult> {
  const controller = new AbortLatch();
  const started = performance.now();
  let stalled: 'first_token' | 'idle' | 'deadline' | null = null;
  // One timer for the whole stream, checked lazily: a chunk only moves `dueAt` (no timer and no closures made
  // per chunk); when the timer fires early because chunks came meanwhile, it waits for the rest.
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let grace: NodeJS.Immediate | undefined;
  let dueAt = Infinity;
  let reason: 'first_token' | 'idle' | 'deadline' = 'first_token';
  const schedule = (): void => {
    clearTimeout(timer);
    timerAt = dueAt;
    timer = setTimeout(onTimer, timerDelay(dueAt - performance.now()));
  };
  // as in runAttempt: the abort waits for this turn's I/O, so a stall of this process alone cancels nothing
  const onTimer = (): void => {
    timer = undefined;
    timerAt = Infinity;
    if (performance.now() < dueAt) schedule();
    else grace = setImmediate(onGrace);
  };
  const onGrace = (): void => {
    grace = undefined;
    if (performance.now() < dueAt) return schedule(); // a chunk came in this turn's I/O
    stalled = reason;
    controller.abort();
  };
  const arm = (ms: number, why: 'first_token' | 'idle'): void => {
    const now = performance.now();
    const left = timers.deadlineAt - now;
    reason = left < ms ? 'deadline' : why;
    dueAt = now + Math.max(1, Math.min(ms, left));
    if (grace === undefined && dueAt < timerAt) schedule();
  };
  arm(timers.firstTokenMs, 'first_token');
  const unlink = linkSignals(controller, cancel ? [...callerSignals, cancel] : callerSignals);
  let text = '';
  let firstTokenMs: number | null = null;
  let finishReason: string | undefined;
  let usage: UpstreamAnswer['usage'] | undefined;
  let providerModel = model.model;
  let validating = false;
  const toolCalls: ToolCall[] = [];
  let refusal = '';
  try {
    for await (const piece of upstream.stream(model, req, messages, controller.signal)) {
      if (piece.providerModel) providerModel = piece.providerModel;
      if (piece.finishReason) finishReason = piece.finishReason;
      if (piece.usage) usage = piece.usage;
      if (piece.delta) {
        if (firstTokenMs === null) firstTokenMs = performance.now() - started;
        text += piece.delta;
        queue.push(piece.delta);
      }
      // tool calls and a refusal are the answer's too (its first token, for the timers), handed on with its result
      // once the whole answer has passed its checks: a bad or cut call can still fail over
      if (piece.toolCall || piece.refusal || piece.active) {
        if (firstTokenMs === null) firstTokenMs = performance.now() - started;
        if (piece.toolCall) toolCalls.push(piece.toolCall);
        if (piece.refusal) refusal += piece.refusal;
      }
      // Until the first content token the first-token deadline stands; after it, every chunk resets the idle timer.
      if (firstTokenMs !== null) arm(timers.idleMs, 'idle');
    }
    if (finishReason === undefined) throw new InvalidAnswerError('stream ended without a finish reason', 'incomplete_stream');
    // an empty answer, a cut and the rest are judged by the answer check, as for complete()
    const answer: UpstreamAnswer = { text, finishReason, providerModel, usage: usage ?? countedUsage(messages, text) };
    if (toolCalls.length > 0) answer.toolCalls = toolCalls;
    if (refusal !== '') answer.refusal = refusal;
    // the idle timer (or the deadline) still runs: a `validate` hook that never settles fails the attempt
    validating = true;
    const { json } = await unlessAborted(checkAnswer(answer, model, req), controller);
    return { answer, json, firstTokenMs: firstTokenMs ?? 0 };
  } catch (err) {
    const why: 'first_token' | 'idle' | 'deadline' | null = stalled;
    if (why !== null) {
      // a hook that has not settled is the request's doing, not the model's (see INVALID_REASONS)
      if (validating) throw new AttemptFailure(hookTimedOut('validate() did not settle in time'), { cause: err });
      const message = why === 'first_token' ? `no first token within ${timers.firstTokenMs} ms` : why === 'idle' ? `stream stalled for ${timers.idleMs} ms` : 'deadline reached';
      // a time limit the request set (its deadline, its own shorter timeout) is no evidence that the model is slow
      const limits = timers.requestLimits;
      const byRequest =
        limits !== undefined &&
        (why === 'deadline'
          ? limits.deadlineSet && (firstTokenMs !== null || performance.now() - started < limits.usualFirstTokenMs)
          : why === 'first_token' && limits.timeoutSet && timers.firstTokenMs < limits.usualFirstTokenMs);
      const failure = failureClass({ kind: byRequest ? 'timeout_by_request' : 'timeout' }, message);
      throw new AttemptFailure(failure, { cause: err });
    }
    const callerAborted = anyAborted(callerSignals);
    const cancelled = !callerAborted && cancel?.aborted === true;
    throw new AttemptFailure(classifyError(err, { timedOut: false, callerAborted, cancelled, timeoutMs: timers.firstTokenMs }), { cause: err });
  } finally {
    clearTimeout(timer);
    clearImmediate(grace);
    unlink();
  }
}
