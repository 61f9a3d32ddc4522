import { meaningMarks, sameMeaningMarks, type MeaningMarks } from './meaning-guards';

export interface SemanticEntry {
  /** The partition: everything but the prompt text that changes an answer (tenant scope included). */
  partition: string;
  /** The exact-cache key holding the answer. */
  answerKey: string;
  prompt: string;
  vector: Float32Array;
  marks: MeaningMarks;
  expiresAt: number;
}

/**
 * Vectors of cached prompts, in process, at most `maxEntries` (oldest evicted first). A lookup only ever
 * compares within one partition, so tenants and different parameters never meet.
 */
export class SemanticIndex {
  readonly #byPartition = new Map<string, Map<string, SemanticEntry>>();
  readonly #order: SemanticEntry[] = [];

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.#order.length;
  }

  add(entry: Omit<SemanticEntry, 'marks'>): void {
    let part = this.#byPartition.get(entry.partition);
    if (!part) {
      part = new Map();
      this.#byPartition.set(entry.partition, part);
    }
    const full: SemanticEntry = { ...entry, marks: meaningMarks(entry.prompt) };
    const old = part.get(entry.answerKey);
    if (old) this.#order.splice(this.#order.indexOf(old), 1);
    part.set(entry.answerKey, full);
    this.#order.push(full);
    while (this.#order.length > this.maxEntries) this.remove(this.#order[0]);
  }

  remove(entry: SemanticEntry): void {
    const part = this.#byPartition.get(entry.partition);
    if (part?.get(entry.answerKey) === entry) {
      part.delete(entry.answerKey);
      if (part.size === 0) this.#byPartition.delete(entry.partition);
    }
    const i = this.#order.indexOf(entry);
    if (i >= 0) this.#order.splice(i, 1);
  }

  /** The most similar live entry of the partition at or above `threshold` that passes the meaning guards. */
  search(partition: string, prompt: string, vector: Float32Array, threshold: number, now = Date.now()): { entry: SemanticEntry; similarity: number } | null {
    const part = this.#byPartition.get(partition);
    if (!part) return null;
    const marks = meaningMarks(prompt);
    let best: { entry: SemanticEntry; similarity: number } | null = null;
    for (const entry of [...part.values()]) {
      if (entry.expiresAt <= now) {
        this.remove(entry);
        continue;
      }
      const similarity = cosine(vector, entry.vector);
      if (similarity >= threshold && (!best || similarity > best.similarity) && sameMeaningMarks(marks, entry.marks)) best = { entry, similarity };
    }
    return best;
  }

  clear(): void {
    this.#byPartition.clear();
    this.#order.length = 0;
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -1;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
