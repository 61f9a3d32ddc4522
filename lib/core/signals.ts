/**
 * What the core needs of a cancellation source: an `AbortSignal` satisfies it, and so does the Koa adapter's
 * lighter disconnect source (an `AbortController` per HTTP request costs more than the rest of a cache hit).
 */
export interface AbortSource {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}

/**
 * A function, or an object with `handleEvent` (as `EventTarget` accepts): an attempt listens to its caller's
 * signals as itself, so linking them costs no closure per attempt.
 */
export type AbortListener = (() => void) | { handleEvent(): void };

/**
 * A cancellation source the library fires itself: one per attempt (timeout, caller gone, lost hedge), per
 * shared cache fill and per streamed request. On Node 20 every `AbortController` makes its signal
 * transferable, which costs more than the rest of an attempt's bookkeeping; this is a plain listener list.
 * It is handed to the openai SDK as the request's `signal`: the SDK (and undici, were it passed on) only
 * reads `aborted` and calls `addEventListener('abort', …)`, and the SDK then aborts its own controller,
 * which cancels the HTTP request. The tests check that a fired latch really cancels the call upstream.
 */
export class AbortLatch implements AbortSource {
  #aborted = false;
  /** One listener as itself (the common case: an attempt on its caller's latch, the SDK on an attempt), else a list. */
  #listeners: AbortListener | AbortListener[] | null = null;
  reason: unknown = undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Typed as what the SDK's `signal` option expects (see above). */
  get signal(): AbortSignal {
    return this as unknown as AbortSignal;
  }

  addEventListener(_type: 'abort', listener: AbortListener): void {
    if (this.#aborted) return;
    const l = this.#listeners;
    if (l === null) this.#listeners = listener;
    else if (Array.isArray(l)) l.push(listener);
    else this.#listeners = [l, listener];
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const l = this.#listeners;
    if (l === listener) {
      this.#listeners = null;
    } else if (Array.isArray(l)) {
      const i = l.indexOf(listener);
      if (i !== -1) l.splice(i, 1);
    }
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.reason = new DOMException('This operation was aborted', 'AbortError');
    const l = this.#listeners;
    this.#listeners = null;
    if (l === null) return;
    for (const fn of Array.isArray(l) ? l : [l]) {
      try {
        if (typeof fn === 'function') fn.call(this);
        else fn.handleEvent();
      } catch {
        // one listener failing does not keep the others from hearing the abort
      }
    }
  }
}

/** Makes `target` abort when any of `sources` aborts. Returns the function that unlinks them. */
export function linkSignals(target: { abort(): void }, sources: readonly (AbortSource | undefined)[]): () => void {
  const onAbort = (): void => target.abort();
  const linked: AbortSource[] = [];
  for (const s of sources) {
    if (!s) continue;
    if (s.aborted) {
      target.abort();
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
    linked.push(s);
  }
  return () => {
    for (const s of linked) s.removeEventListener('abort', onAbort);
  };
}

/**
 * Settles as `work` does, or rejects with `source`'s abort reason as soon as it aborts (the work itself is left
 * to finish on its own). For what the library awaits of user code, such as a `validate` hook, that the
 * attempt's timeout and cancellation must still bound.
 */
export function unlessAborted<T>(work: Promise<T>, source: AbortSource & { readonly reason?: unknown }): Promise<T> {
  const reasonOf = (): unknown => source.reason ?? new DOMException('This operation was aborted', 'AbortError');
  if (source.aborted) {
    work.catch(() => undefined); // nobody is left to hear it
    return Promise.reject(reasonOf());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf());
    source.addEventListener('abort', onAbort);
    work.then(
      (value) => {
        source.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        source.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export function anyAborted(signals: readonly (AbortSource | undefined)[]): boolean {
  for (const s of signals) if (s?.aborted) return true;
  return false;
}

/**
 * A platform `AbortSignal` that fires with `source`: what code outside the library gets (a `ChatProvider`, a
 * provider SDK), since `fetch` and other platform APIs check that a signal is a real one (Node 24's `fetch`
 * rejects any other object). A real signal is passed through; a latch gets a controller of its own, made only
 * here, so the library's own openai path keeps the lighter latch.
 */
export function platformSignal(source: AbortSource): AbortSignal {
  if (source instanceof AbortSignal) return source;
  const controller = new AbortController();
  if (source.aborted) {
    controller.abort((source as { reason?: unknown }).reason);
  } else {
    source.addEventListener('abort', () => controller.abort((source as { reason?: unknown }).reason), { once: true });
  }
  return controller.signal;
}
