/**
 * Calls app code whose result the library does not wait for (event listeners, `onFallback`, a logger), so that
 * it can never break a request nor the process: a throw is caught, and so is the rejection of a promise it
 * returns (an `async` listener that fails would otherwise be an unhandled rejection, which ends a Node process).
 * `onError` hears either (at most once per callback is the caller's choice).
 */
export function callIsolated<A>(fn: (arg: A) => unknown, arg: A, onError: (err: unknown) => void): void {
  let result: unknown;
  try {
    result = fn(arg);
  } catch (err) {
    onError(err);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    // a thenable's then may itself throw (a hostile or broken one)
    try {
      (result as PromiseLike<unknown>).then(undefined, onError);
    } catch (err) {
      onError(err);
    }
  }
}
