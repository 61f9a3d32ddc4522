/**
 * A ring buffer of the last `size` successful latencies (with the request's maxTokens), kept sorted as well
 * (one binary search and one shift per sample), so a percentile is a lookup on the hot path. The samples'
 * `maxTokens` (those that had one) are kept sorted the same way, so their median is a lookup too: the adaptive
 * timeout asks for it on every attempt of a request with `maxTokens`.
 */
export class LatencyWindow {
  readonly #latency: Float64Array;
  readonly #maxTokens: Float64Array;
  #count = 0;
  #next = 0;
  readonly #sorted: Float64Array;
  /** The samples' positive `maxTokens`, ascending; `#tokenCount` of them. */
  readonly #sortedTokens: Float64Array;
  #tokenCount = 0;

  constructor(size: number) {
    this.#latency = new Float64Array(size);
    this.#maxTokens = new Float64Array(size);
    this.#sorted = new Float64Array(size);
    this.#sortedTokens = new Float64Array(size);
  }

  get count(): number {
    return this.#count;
  }

  add(latencyMs: number, maxTokens: number | undefined): void {
    const sorted = this.#sorted;
    let n = this.#count;
    if (n === this.#latency.length) {
      // full: the oldest sample leaves the sorted views first
      remove(sorted, n, this.#latency[this.#next]);
      n--;
      const oldTokens = this.#maxTokens[this.#next];
      if (oldTokens > 0) remove(this.#sortedTokens, this.#tokenCount--, oldTokens);
    } else {
      this.#count++;
    }
    insert(sorted, n, latencyMs);
    const tokens = maxTokens !== undefined && maxTokens > 0 ? maxTokens : 0;
    if (tokens > 0) insert(this.#sortedTokens, this.#tokenCount++, tokens);
    this.#latency[this.#next] = latencyMs;
    this.#maxTokens[this.#next] = tokens;
    this.#next = (this.#next + 1) % this.#latency.length;
  }

  /** Nearest-rank percentile (p in 0–100) of the samples; undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil((p / 100) * this.#count) - 1));
    return this.#sorted[rank];
  }

  /** Median `maxTokens` of the samples that had one; undefined when none had. */
  medianMaxTokens(): number | undefined {
    const n = this.#tokenCount;
    return n === 0 ? undefined : this.#sortedTokens[n >> 1];
  }
}

/** Inserts x into the ascending a[0..n) (a has room for one more). */
function insert(a: Float64Array, n: number, x: number): void {
  const at = lowerBound(a, n, x);
  a.copyWithin(at + 1, at, n);
  a[at] = x;
}

/** Removes one x (present) from the ascending a[0..n). */
function remove(a: Float64Array, n: number, x: number): void {
  const at = lowerBound(a, n, x);
  a.copyWithin(at, at + 1, n);
}

/** First index in `a[0..n)` (ascending) whose value is >= x. */
function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
