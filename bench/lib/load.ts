/** Load generation for the HTTP sections of the benches: autocannon in its own process, and core pinning. */
import { execFile, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export interface Autocannon {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/**
 * Over HTTP the route's own process must be what limits throughput, or the figure measures the load generator:
 * on a 2-core machine the servers (this process, every thread) get core 0, and autocannon and the fake
 * provider share core 1. Needs `taskset` (util-linux) and ≥ 2 cores; otherwise nothing is pinned.
 */
export function pinning(upstreamPid: number): { prefix: string[]; note: string } {
  const cores = os.cpus().length;
  const can = process.platform === 'linux' && cores >= 2 && spawnSync('taskset', ['-V']).status === 0;
  if (!can) return { prefix: [], note: 'not pinned (no taskset or < 2 cores)' };
  const last = String(cores - 1);
  const ok = spawnSync('taskset', ['-a', '-p', '-c', cores > 2 ? `0-${cores - 2}` : '0', String(process.pid)]).status === 0 &&
    spawnSync('taskset', ['-a', '-p', '-c', last, String(upstreamPid)]).status === 0;
  if (!ok) return { prefix: [], note: 'not pinned (taskset failed)' };
  return { prefix: ['taskset', '-c', last], note: `servers pinned to core${cores > 2 ? `s 0–${cores - 2}` : ' 0'}, autocannon and the fake provider to core ${last}` };
}

export function autocannon(url: string, connections: number, seconds: number, prefix: string[] = []): Promise<Autocannon> {
  const bin = path.join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');
  const [cmd, ...pre] = prefix.length ? prefix : [process.execPath];
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...pre, ...(prefix.length ? [process.execPath] : []), bin, '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', JSON.stringify({ text: 'hello' }), '--json', `${url}/chat`],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as Autocannon)),
    );
  });
}

