import { execFile } from 'node:child_process';
import path from 'node:path';

/**
 * The short chaos soak, in its own process (so GC can be forced and leaks show): the process must
 * report every check passed and then exit by itself — if anything stayed open after close(), it would hang.
 */
describe('chaos soak (short)', () => {
  it('keeps every promise under chaos for 10 s (as in CI) and leaves nothing open', async () => {
    const root = path.join(__dirname, '..', '..');
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--expose-gc', '-r', 'ts-node/register/transpile-only', 'bench/soak.ts', '--duration', '10', '--connections', '10', '--json'],
        { cwd: root, timeout: 60_000, killSignal: 'SIGKILL' },
        (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: out, stderr: errOut }),
      );
      child.stdin?.end();
    });
    const line = stdout.trim().split('\n').pop() ?? '';
    const summary = JSON.parse(line) as Record<string, unknown> & { failures: string[] };
    expect({ failures: summary.failures, stderr: stderr.replace(/npm warn.*\n?/g, '') }).toEqual({ failures: [], stderr: '' });
    expect(summary).toMatchObject({ status5xx: 0, status4xx: 0, unhandledRejections: 0, uncaughtExceptions: 0, openHandlesAfterClose: [], passed: true });
    expect(summary.requests as number).toBeGreaterThan(100);
    expect(summary.fallbacks as number).toBeGreaterThan(0);
    // each model once, plus at most one same-model retry of a transient failure (`retry.maxRetries` is 1)
    expect(summary.maxAttemptsPerRequest as number).toBeLessThanOrEqual(2 * (summary.chainLength as number));
    expect(summary.heapBeforeMb).not.toBeNull();
    expect(code).toBe(0);
  }, 70_000);
});
