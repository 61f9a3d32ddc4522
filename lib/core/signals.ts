/**
 * What the core needs of a cancellation source: an `AbortSignal` satisfies it, and so does the Koa adapter's
 * lighter disconnect source (an `AbortController` per HTTP request costs more than the rest of a cache hit).
 */
export interface AbortSource {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Makes `target` abort when any of `sources` (or `extra`) aborts. Returns the function that unlinks them. */
export function linkSignals(target: AbortController, sources: readonly (AbortSource | undefined)[], extra?: AbortSource): () => void {
  const onAbort = (): void => target.abort();
  const linked: AbortSource[] = [];
  const n = sources.length;
  for (let i = 0; i <= n; i++) {
    const s = i < n ? sources[i] : extra;
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

export function anyAborted(signals: readonly (AbortSource | undefined)[]): boolean {
  for (const s of signals) if (s?.aborted) return true;
  return false;
}
