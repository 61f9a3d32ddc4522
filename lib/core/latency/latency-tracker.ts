import type { LatencyStats } from '../../types';
import { LatencyWindow } from './latency-window';

/** Any task: the model-wide window every success is also recorded in. */
export const ALL_TASKS = '*';

/**
 * Task labels with a window of their own, per model. Labels come from app code and are meant to be a handful
 * (`'summarize'`, `'codegen'`); past this many, a new label is recorded in the model-wide window only, so an
 * app that puts something unbounded in `task` (a user id, a prompt) cannot grow memory or `status()` without end.
 */
export const MAX_TASKS_PER_MODEL = 100;

/** Rolling latency of successful attempts per model and per task label. */
export class LatencyTracker {
  readonly #windows = new Map<string, Map<string, LatencyWindow>>();

  constructor(private readonly windowSize: number) {}

  record(model: string, task: string | undefined, latencyMs: number, maxTokens: number | undefined): void {
    let byTask = this.#windows.get(model);
    if (!byTask) {
      byTask = new Map();
      this.#windows.set(model, byTask);
    }
    this.#windowFor(byTask, ALL_TASKS).add(latencyMs, maxTokens);
    if (task === undefined || task === ALL_TASKS) return;
    const own = byTask.get(task);
    if (own) own.add(latencyMs, maxTokens);
    else if (byTask.size <= MAX_TASKS_PER_MODEL) this.#windowFor(byTask, task).add(latencyMs, maxTokens);
  }

  #windowFor(byTask: Map<string, LatencyWindow>, key: string): LatencyWindow {
    let w = byTask.get(key);
    if (!w) {
      w = new LatencyWindow(this.windowSize);
      byTask.set(key, w);
    }
    return w;
  }

  /** The task's window when it has `minSamples`, else the model-wide one when it has, else undefined. */
  window(model: string, task: string | undefined, minSamples: number): LatencyWindow | undefined {
    const byTask = this.#windows.get(model);
    if (!byTask) return undefined;
    const own = task === undefined ? undefined : byTask.get(task);
    if (own && own.count >= minSamples) return own;
    const all = byTask.get(ALL_TASKS);
    return all && all.count >= minSamples ? all : undefined;
  }

  /** p50/p95/p99 per task (`'*'` = all tasks) for one model. */
  stats(model: string): Record<string, LatencyStats> {
    const out: Record<string, LatencyStats> = {};
    for (const [task, w] of this.#windows.get(model) ?? []) {
      out[task] = { samples: w.count, p50: round(w.percentile(50)), p95: round(w.percentile(95)), p99: round(w.percentile(99)) };
    }
    return out;
  }
}

const round = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 10) / 10);
