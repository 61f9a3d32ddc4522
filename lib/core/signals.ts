/** Makes `target` abort when any of `sources` aborts. Returns the function that unlinks them. */
export function linkSignals(target: AbortController, sources: readonly (AbortSignal | undefined)[]): () => void {
  const onAbort = (): void => target.abort();
  const linked: AbortSignal[] = [];
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

export function anyAborted(signals: readonly (AbortSignal | undefined)[]): boolean {
  for (const s of signals) if (s?.aborted) return true;
  return false;
}
