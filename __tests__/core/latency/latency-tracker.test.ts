import { ALL_TASKS, LatencyTracker, MAX_TASKS_PER_MODEL } from '../../../lib/core/latency/latency-tracker';

describe('LatencyTracker', () => {
  it('keeps a window per task and a model-wide one, and falls back to the model-wide one until a task has enough samples', () => {
    const t = new LatencyTracker(50);
    for (let i = 0; i < 5; i++) t.record('m', 'summarize', 100, undefined);
    for (let i = 0; i < 5; i++) t.record('m', undefined, 300, undefined);
    expect(t.window('m', 'summarize', 5)?.percentile(50)).toBe(100);
    expect(t.window('m', 'codegen', 5)?.count).toBe(10); // no own window yet: the model-wide one
    expect(t.window('m', 'summarize', 6)?.count).toBe(10);
    expect(t.window('other', 'summarize', 1)).toBeUndefined();
  });

  it(`gives at most ${MAX_TASKS_PER_MODEL} task labels a window of their own per model; later labels count model-wide only`, () => {
    const t = new LatencyTracker(10);
    for (let i = 0; i < MAX_TASKS_PER_MODEL + 50; i++) t.record('m', `task-${i}`, i, undefined);
    const stats = t.stats('m');
    expect(Object.keys(stats)).toHaveLength(MAX_TASKS_PER_MODEL + 1); // the tasks plus '*'
    expect(stats[ALL_TASKS].samples).toBe(10); // every sample reached the model-wide window (size 10)
    expect(stats[`task-${MAX_TASKS_PER_MODEL - 1}`]).toBeDefined();
    expect(stats[`task-${MAX_TASKS_PER_MODEL}`]).toBeUndefined();
    // a label that has its window keeps using it
    t.record('m', 'task-0', 5, undefined);
    expect(t.stats('m')['task-0'].samples).toBe(2);
    // another model has its own allowance
    t.record('n', 'task-999', 1, undefined);
    expect(t.stats('n')['task-999'].samples).toBe(1);
  });
});
