import type { LatencyTracker } from '../latency/latency-tracker';
import type { ResolvedModel } from '../options/resolve-options';

/** What ordering a model's deployments reads: calls in flight, and the recent latencies. */
export interface DeploymentState {
  inFlight(name: string): number;
  /** Successful answers' latencies (complete()). */
  readonly latency: LatencyTracker;
  /** Streams' times to first token. */
  readonly firstTokenLatency: LatencyTracker;
  /** A number in [0, 1): `Math.random` but in tests. */
  random(): number;
}

/** Whether a chain has a model with more than one deployment (nothing to order otherwise). */
export function hasDeploymentGroups(chain: readonly ResolvedModel[]): boolean {
  for (let i = 1; i < chain.length; i++) if (sameModel(chain[i - 1], chain[i])) return true;
  return false;
}

/** Whether `answered` is another model than the first of `chain` (another deployment of the first model is not). */
export function fellBack(chain: readonly ResolvedModel[], answered: ResolvedModel): boolean {
  const first = chain[0];
  return first !== undefined && answered !== first && !sameModel(first, answered);
}

/** Whether two entries are deployments of one model. */
export function sameModel(a: ResolvedModel, b: ResolvedModel): boolean {
  return a.deployment !== undefined && b.deployment !== undefined && a !== b && a.deployment.group === b.deployment.group;
}

/**
 * The chain for one request, each model's deployments (contiguous in the chain) in the order they are tried, by the
 * model's `strategy`; the models keep their order. The same array when no model has more than one deployment in it.
 *
 * - `weighted`: weighted random without replacement: the first by weight among all, the next by weight among the
 *   rest, and so on (a weight of 0 comes after every positive weight, in configured order);
 * - `least-busy`: fewest calls in flight first; ties in weighted random order;
 * - `lowest-latency`: a deployment with no successful sample yet first (so each gets measured), then by the median of
 *   its recent latencies (for the request's task when it has samples; streams: time to first token); ties in weighted
 *   random order.
 *
 * The walk then goes down the result as down any chain: a deployment that is cooling down, open or full is skipped,
 * one that fails is followed by the next deployment of the model, and the model's last deployment by the next model.
 */
export function orderDeployments(
  chain: readonly ResolvedModel[],
  state: DeploymentState,
  task: string | undefined,
  streaming: boolean,
): readonly ResolvedModel[] {
  let out: ResolvedModel[] | null = null;
  for (let i = 0; i < chain.length; ) {
    let end = i + 1;
    while (end < chain.length && sameModel(chain[i], chain[end])) end++;
    if (end - i > 1) {
      out ??= chain.slice();
      const ordered = orderGroup(chain.slice(i, end), state, task, streaming);
      for (let k = 0; k < ordered.length; k++) out[i + k] = ordered[k];
    }
    i = end;
  }
  return out ?? chain;
}

function orderGroup(group: ResolvedModel[], state: DeploymentState, task: string | undefined, streaming: boolean): ResolvedModel[] {
  const shuffled = weightedOrder(group, state.random);
  const strategy = group[0].deployment?.strategy ?? 'weighted';
  if (strategy === 'weighted') return shuffled;
  const rank = new Map<ResolvedModel, number>();
  if (strategy === 'least-busy') {
    for (const m of shuffled) rank.set(m, state.inFlight(m.name));
  } else {
    const tracker = streaming ? state.firstTokenLatency : state.latency;
    // no sample yet: -1, before every measured one
    for (const m of shuffled) rank.set(m, tracker.window(m.name, task, 1)?.percentile(50) ?? -1);
  }
  // Array.prototype.sort is stable: equal ranks keep their weighted random order
  return shuffled.sort((a, b) => (rank.get(a) as number) - (rank.get(b) as number));
}

/** Weighted random order without replacement; weight-0 members last, in the order given. */
export function weightedOrder(group: readonly ResolvedModel[], random: () => number): ResolvedModel[] {
  const left = group.filter((m) => weightOf(m) > 0);
  const out: ResolvedModel[] = [];
  let total = left.reduce((n, m) => n + weightOf(m), 0);
  while (left.length > 0) {
    let r = random() * total;
    let k = 0;
    for (; k < left.length - 1; k++) {
      r -= weightOf(left[k]);
      if (r < 0) break;
    }
    total -= weightOf(left[k]);
    out.push(left[k]);
    left.splice(k, 1);
  }
  for (const m of group) if (weightOf(m) <= 0) out.push(m);
  return out;
}

function weightOf(m: ResolvedModel): number {
  return m.deployment?.weight ?? 1;
}
