import { LatencyTracker } from '../../../lib/core/latency/latency-tracker';
import { resolveOptions, type ResolvedModel } from '../../../lib/core/options/resolve-options';
import { type DeploymentState, fellBack, hasDeploymentGroups, orderDeployments, weightedOrder } from '../../../lib/core/fallback/deployment-order';
import type { DeploymentStrategy } from '../../../lib/types';

function chainOf(strategy: DeploymentStrategy, weights: number[] = [1, 1, 1]): readonly ResolvedModel[] {
  return resolveOptions({
    models: [
      { name: 'first', model: 'f', apiKey: 'k' },
      { name: 'gpt', model: 'g', apiKey: 'k', strategy, deployments: weights.map((weight, i) => ({ name: `d${i}`, weight })) },
      { name: 'last', model: 'l', apiKey: 'k' },
    ],
  }).models;
}

/** A random source that returns the given numbers in turn. */
function sequence(...xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length];
}

function state(random: () => number, inFlight: Record<string, number> = {}): DeploymentState & { latency: LatencyTracker; firstTokenLatency: LatencyTracker } {
  return { inFlight: (name) => inFlight[name] ?? 0, latency: new LatencyTracker(50), firstTokenLatency: new LatencyTracker(50), random };
}

const names = (chain: readonly ResolvedModel[]) => chain.map((m) => m.name);

describe('orderDeployments', () => {
  it('leaves a chain without deployments as it is (the same array)', () => {
    const chain = resolveOptions({ models: [{ model: 'a', apiKey: 'k' }, { model: 'b', apiKey: 'k' }] }).models;
    expect(hasDeploymentGroups(chain)).toBe(false);
    expect(orderDeployments(chain, state(Math.random), undefined, false)).toBe(chain);
  });

  it('weighted: picks the first by weight, then the next among the rest; other models keep their places', () => {
    const chain = chainOf('weighted', [1, 2, 1]);
    // total 4: 0.3 * 4 = 1.2 falls in d1 (1..3); then total 2 over d0, d2: 0.9 * 2 = 1.8 falls in d2
    expect(names(orderDeployments(chain, state(sequence(0.3, 0.9)), undefined, false))).toEqual(['first', 'gpt/d1', 'gpt/d2', 'gpt/d0', 'last']);
    expect(names(orderDeployments(chain, state(sequence(0, 0)), undefined, false))).toEqual(['first', 'gpt/d0', 'gpt/d1', 'gpt/d2', 'last']);
    expect(names(orderDeployments(chain, state(sequence(0.99, 0.99)), undefined, false))).toEqual(['first', 'gpt/d2', 'gpt/d1', 'gpt/d0', 'last']);
  });

  it('weighted: a weight of 0 comes after every positive weight', () => {
    const group = chainOf('weighted', [0, 1, 0]).slice(1, 4);
    for (const r of [0, 0.5, 0.999]) expect(names(weightedOrder(group, () => r))).toEqual(['gpt/d1', 'gpt/d0', 'gpt/d2']);
  });

  it('weighted: the share of first places follows the weights', () => {
    const group = chainOf('weighted', [3, 1, 0]).slice(1, 4);
    let seed = 42;
    // a small deterministic generator (an LCG): the test never depends on luck
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const first = { 'gpt/d0': 0, 'gpt/d1': 0, 'gpt/d2': 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) first[weightedOrder(group, random)[0].name]++;
    expect(first['gpt/d0'] / 4000).toBeCloseTo(0.75, 1);
    expect(first['gpt/d2']).toBe(0);
  });

  it('least-busy: fewest calls in flight first; ties in weighted order', () => {
    const chain = chainOf('least-busy');
    const s = state(sequence(0), { 'gpt/d0': 2, 'gpt/d1': 1, 'gpt/d2': 1 });
    expect(names(orderDeployments(chain, s, undefined, false)).slice(1, 4)).toEqual(['gpt/d1', 'gpt/d2', 'gpt/d0']);
  });

  it('lowest-latency: unmeasured first, then by median latency (the task’s when it has samples); streams by time to first token', () => {
    const chain = chainOf('lowest-latency');
    const s = state(sequence(0));
    for (const ms of [300, 320, 310]) s.latency.record('gpt/d0', undefined, ms, undefined);
    for (const ms of [100, 500, 120]) s.latency.record('gpt/d1', undefined, ms, undefined);
    expect(names(orderDeployments(chain, s, undefined, false)).slice(1, 4)).toEqual(['gpt/d2', 'gpt/d1', 'gpt/d0']);
    s.latency.record('gpt/d2', 'long', 50, undefined);
    s.latency.record('gpt/d0', 'long', 20, undefined);
    expect(names(orderDeployments(chain, s, 'long', false)).slice(1, 4)).toEqual(['gpt/d0', 'gpt/d2', 'gpt/d1']);
    s.firstTokenLatency.record('gpt/d0', undefined, 90, undefined);
    s.firstTokenLatency.record('gpt/d1', undefined, 10, undefined);
    s.firstTokenLatency.record('gpt/d2', undefined, 40, undefined);
    expect(names(orderDeployments(chain, s, undefined, true)).slice(1, 4)).toEqual(['gpt/d1', 'gpt/d2', 'gpt/d0']);
  });

  it('fellBack: another deployment of the first model is not a fallback', () => {
    const chain = chainOf('weighted').slice(1);
    expect(fellBack(chain, chain[0])).toBe(false);
    expect(fellBack(chain, chain[2])).toBe(false);
    expect(fellBack(chain, chain[3])).toBe(true);
  });
});
