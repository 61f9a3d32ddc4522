import { classifyError } from '../upstream/classify-error';
import type { OpenAIUpstream, UpstreamAnswer } from '../upstream/openai-upstream';
import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { anyAborted, linkSignals } from '../signals';
import { AttemptFailure } from './attempt-failure';

/**
 * One attempt on one model: one HTTP request, really cancelled (the socket is closed) when it
 * exceeds `timeoutMs` or when any caller signal fires. Failures are thrown as `AttemptFailure`.
 */
export async function runAttempt(
  upstream: OpenAIUpstream,
  model: ResolvedModel,
  req: NormalizedRequest,
  callerSignals: readonly (AbortSignal | undefined)[],
  timeoutMs: number,
): Promise<UpstreamAnswer> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const unlink = linkSignals(controller, callerSignals);
  try {
    return await upstream.complete(model, req, controller.signal, timeoutMs);
  } catch (err) {
    const callerAborted = !timedOut && anyAborted(callerSignals);
    throw new AttemptFailure(classifyError(err, { timedOut, callerAborted, timeoutMs }), { cause: err });
  } finally {
    clearTimeout(timer);
    unlink();
  }
}
