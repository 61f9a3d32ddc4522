/** A ring buffer of the last `size` successful latencies (with the request's maxTokens), with cached percentiles. */
export class LatencyWindow {
  readonly #latency: Float64Array;
  readonly #maxTokens: Float64Array;
  #count = 0;
  #next = 0;
  #sorted: Float64Array | null = null;

  constructor(size: number) {
    this.#latency = new Float64Array(size);
    this.#maxTokens = new Float64Array(size);
  }

  get count(): number {
    return this.#count;
  }

  add(latencyMs: number, maxTokens: number | undefined): void {
    this.#latency[this.#next] = latencyMs;
    this.#maxTokens[this.#next] = maxTokens ?? 0;
    this.#next = (this.#next + 1) % this.#latency.length;
    if (this.#count < this.#latency.length) this.#count++;
    this.#sorted = null;
  }

  /** Nearest-rank percentile (p in 0–100) of the samples; undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.#count === 0) return undefined;
    if (!this.#sorted) this.#sorted = this.#latency.slice(0, this.#count).sort();
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
