import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { AbortLatch, type AbortSource, anyAborted, linkSignals } from '../signals';
import { classifyError } from '../upstream/classify-error';
import type { OpenAIUpstream, UpstreamAnswer } from '../upstream/openai-upstream';
import { type AnswerRules, checkAnswer, checkAnswerShape } from '../validation/answer-check';
import { AttemptFailure } from './attempt-failure';

export interface AttemptAnswer {
  answer: UpstreamAnswer;
  json?: unknown;
}

/**
 * One attempt on one model: one HTTP request, really cancelled (the socket is closed) when it exceeds
 * `timeoutMs`, when a caller signal fires, or when `cancelSignal` fires (a hedge that lost). The answer is
 * checked before it counts as a success. Failures are thrown as `AttemptFailure`.
 */
export function runAttempt(
  upstream: OpenAIUpstream,
  model: ResolvedModel,
  req: NormalizedRequest,
  messages: NormalizedRequest['messages'],
  callerSignals: readonly (AbortSource | undefined)[],
  cancelSignal: AbortSource | undefined,
  timeoutMs: number,
): Promise<AttemptAnswer> {
  const controller = new AbortLatch();
  let timedOut = false;
  let grace: NodeJS.Immediate | undefined;
  // The timer phase runs before I/O in each turn of the event loop: after a stall of this process (a long GC
  // pause, a busy loop), every overdue timer would fire before the answers already waiting in the sockets are
  // read. So the abort waits for that turn's I/O (setImmediate runs after it): a late timer no longer cancels
  // an answer that arrived in time, and an answer still missing is cancelled at most one loop turn later.
  const timer = setTimeout(() => {
    grace = setImmediate(() => {
      timedOut = true;
      controller.abort();
    });
  }, timeoutMs);
  const unlink = linkSignals(controller, callerSignals, cancelSignal);
  const release = (): void => {
    clearTimeout(timer);
    clearImmediate(grace);
    unlink();
  };
  const fail = (err: unknown): never => {
    const callerAborted = !timedOut && anyAborted(callerSignals);
    const cancelled = !timedOut && !callerAborted && cancelSignal?.aborted === true;
    release();
    throw new AttemptFailure(classifyError(err, { timedOut, callerAborted, cancelled, timeoutMs }), { cause: err });
  };
  // A promise chain rather than an async function: this runs for every attempt, and each async frame costs.
  let call: Promise<UpstreamAnswer>;
  try {
    call = upstream.complete(model, req, messages, controller.signal);
  } catch (err) {
    call = Promise.reject(err);
  }
  return call.then((answer) => {
    const rules: AnswerRules = { acceptTruncated: req.acceptTruncated, schema: req.schemaFn, validate: req.validate };
    // only a user `validate` hook needs an extra turn of the event loop (the timeout still runs meanwhile)
    if (rules.validate) {
      return checkAnswer(answer, model.name, rules).then(({ json }) => {
        release();
        return { answer, json };
      }, fail);
    }
    let json: unknown;
    try {
      json = checkAnswerShape(answer, rules).json;
    } catch (err) {
      return fail(err);
    }
    release();
    return { answer, json };
  }, fail);
}
