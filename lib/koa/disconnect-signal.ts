import type { ParameterizedContext } from 'koa';
import type { AbortSource } from '../core/signals';

/**
 * Fires when the HTTP client goes away before the response is finished: the response's 'close' without
 * `writableFinished` (stable across Node versions, unlike the request's 'close'). A plain listener list on
 * one 'close' listener, not an `AbortController`: that would be created for every request, mostly for nothing.
 */
class Disconnect implements AbortSource {
  #aborted = false;
  #listeners: (() => void)[] = [];

  constructor(res: ParameterizedContext['res']) {
    if (res.destroyed && !res.writableFinished) {
      this.#aborted = true;
      return;
    }
    res.once('close', () => {
      if (res.writableFinished) return;
      this.#aborted = true;
      const listeners = this.#listeners;
      this.#listeners = [];
      for (const fn of listeners) fn();
    });
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.#aborted) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.#listeners.indexOf(listener);
    if (i !== -1) this.#listeners.splice(i, 1);
  }
}

export function disconnectSignal(ctx: ParameterizedContext): AbortSource {
  return new Disconnect(ctx.res);
}
