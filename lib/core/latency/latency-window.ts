/**
 * A ring buffer of the last `size` successful latencies (with the request's maxTokens), kept sorted as well
 * (one binary search and one shift per sample), so a percentile is a lookup on the hot path.
 */
export class LatencyWindow {
  readonly #latency: Float64Array;
  readonly #maxTokens: Float64Array;
  #count = 0;
  #next = 0;
  readonly #sorted: Float64Array;

  constructor(size: number) {
    this.#latency = new Float64Array(size);
    this.#maxTokens = new Float64Array(size);
    this.#sorted = new Float64Array(size);
  }

  get count(): number {
    return this.#count;
  }

  add(latencyMs: number, maxTokens: number | undefined): void {
    const sorted = this.#sorted;
    let n = this.#count;
    if (n === this.#latency.length) {
      // full: the oldest sample leaves the sorted view first
      const at = lowerBound(sorted, n, this.#latency[this.#next]);
      sorted.copyWithin(at, at + 1, n);
      n--;
    } else {
      this.#count++;
    }
    const at = lowerBound(sorted, n, latencyMs);
    sorted.copyWithin(at + 1, at, n);
    sorted[at] = latencyMs;
    this.#latency[this.#next] = latencyMs;
    this.#maxTokens[this.#next] = maxTokens ?? 0;
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
    const withTokens: number[] = [];
    for (let i = 0; i < this.#count; i++) if (this.#maxTokens[i] > 0) withTokens.push(this.#maxTokens[i]);
    if (withTokens.length === 0) return undefined;
    withTokens.sort((a, b) => a - b);
    return withTokens[Math.floor(withTokens.length / 2)];
  }
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
