/**
 * npm run soak — the chaos soak (default 60 s; `--duration 10` in CI). Prints a summary table, or one JSON
 * line with --json. Exits non-zero when a check fails. It never calls process.exit: if anything were left
 * open after close(), the process would not exit, which the test suite's short soak detects.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runSoak } from './lib/soak';
import { argValue, machine, table } from './lib/stats';

async function main(): Promise<void> {
  const durationS = Number(argValue('duration', '60'));
  const connections = Number(argValue('connections', '20'));
  const heapBoundMb = Number(argValue('heap-bound-mb', '8'));
  const json = process.argv.includes('--json');
  const s = await runSoak({ durationS, connections, heapBoundMb });
  if (json) {
    console.log(JSON.stringify(s));
  } else {
    const rows: [string, string | number][] = [
      ['duration', `${s.durationS} s, ${s.connections} connections`],
      ['requests (req/s)', `${s.requests} (${s.rps})`],
      ['2xx / 4xx / 5xx', `${s.status2xx} / ${s.status4xx} / ${s.status5xx}`],
      ['socket errors / client timeouts', `${s.socketErrors} / ${s.timeouts}`],
      ['fallbacks / breaker opens / cache hits', `${s.fallbacks} / ${s.breakerOpens} / ${s.cacheHits}`],
      ['max attempts per request, retries included (chain length)', `${s.maxAttemptsPerRequest} (${s.chainLength})`],
      ['unhandled rejections / uncaught exceptions', `${s.unhandledRejections} / ${s.uncaughtExceptions}`],
      ['heap after GC: before → after (bound)', s.heapBeforeMb === null ? 'not measured (run with --expose-gc)' : `${s.heapBeforeMb} → ${s.heapAfterMb} MB (growth ≤ ${s.heapBoundMb} MB)`],
      ['open handles after close()', s.openHandlesAfterClose.length ? s.openHandlesAfterClose.join(', ') : 'none'],
      ['result', s.passed ? 'PASS' : `FAIL: ${s.failures.join('; ')}`],
    ];
    const md = ['# Chaos soak', '', `Machine: ${machine()}  `, `Run: ${new Date().toISOString()}`, '', table(['check', 'value'], rows), ''].join('\n');
    console.log(md);
    if (!process.argv.includes('--no-write')) writeFileSync(path.join(__dirname, 'results', 'soak.md'), md);
  }
  if (!s.passed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
