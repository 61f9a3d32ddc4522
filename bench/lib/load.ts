/**
 * The processes of bench:overhead and bench:instructions: every route in its own server process (optionally
 * under a wrapper such as valgrind), persistent load generators (autocannon in a process of its own), and core
 * pinning.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { LoadBlock, LoadResult } from './load-child';
import type { RouteKind, RouteMode } from './route-server';
import type { StrategyConfig } from './strategies';

/** A child process started with ts-node, answering IPC requests by `id`. */
class Child {
  #nextId = 0;
  readonly #waiting = new Map<number, (m: never) => void>();

  private constructor(readonly process: ChildProcess) {
    process.on('message', (m: { id?: number }) => {
      const done = m.id === undefined ? undefined : this.#waiting.get(m.id);
      if (!done || m.id === undefined) return;
      this.#waiting.delete(m.id);
      done(m as never);
    });
  }

  /** `wrapper`: a command that runs node (e.g. valgrind and its options), the child's pid being the wrapper's. */
  static async start<Ready>(file: string, args: string[], wrapper: string[] = []): Promise<{ child: Child; ready: Ready }> {
    const execArgv = ['-r', 'ts-node/register/transpile-only'];
    const cp = fork(path.join(__dirname, file), args, {
      ...(wrapper.length > 0 ? { execPath: wrapper[0], execArgv: [...wrapper.slice(1), process.execPath, ...execArgv] } : { execArgv }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Ready>((resolve, reject) => {
      cp.once('error', reject);
      cp.once('exit', (code) => reject(new Error(`${file} exited (${code})`)));
      cp.once('message', (m: Ready) => resolve(m));
    });
    cp.removeAllListeners('exit');
    return { child: new Child(cp), ready };
  }

  ask<T>(message: Record<string, unknown>): Promise<T> {
    const id = ++this.#nextId;
    return new Promise<T>((resolve) => {
      this.#waiting.set(id, resolve as (m: never) => void);
      this.process.send({ ...message, id });
    });
  }

  close(): Promise<void> {
    if (this.process.exitCode !== null || !this.process.connected) return Promise.resolve();
    return new Promise((resolve) => {
      this.process.once('exit', () => resolve());
      this.process.disconnect();
    });
  }
}

/** One strategy's route in its own process: on a loopback port (`http`), or driven in memory (`stub`). */
export interface RouteServer {
  /** The route's base URL (`http` mode). */
  url: string;
  pid: number;
  /** CPU (user + system) the server process has used so far, µs. */
  cpuUs(): Promise<number>;
  /** `stub` mode: n sequential in-memory requests; the CPU (µs) and wall time (ms) they took. */
  block(n: number): Promise<{ us: number; ms: number }>;
  close(): Promise<void>;
}

export async function startRouteServer(kind: RouteKind, cfg: StrategyConfig, mode: RouteMode = 'http', wrapper: string[] = []): Promise<RouteServer> {
  const { child, ready } = await Child.start<{ url: string }>('route-server.ts', [kind, JSON.stringify(cfg), mode], wrapper);
  return {
    url: ready.url,
    pid: child.process.pid ?? 0,
    cpuUs: () => child.ask<{ us: number }>({ type: 'cpu' }).then((m) => m.us),
    block: (n) => child.ask<{ us: number; ms: number }>({ type: 'block', n }),
    close: () => child.close(),
  };
}

/** A persistent autocannon in its own process. */
export interface LoadGenerator {
  pid: number;
  run(url: string, connections: number, seconds: number): Promise<LoadResult>;
  /** Exactly `amount` requests over `connections` connections. */
  send(url: string, connections: number, amount: number): Promise<LoadResult>;
  close(): Promise<void>;
}

export async function startLoadGenerator(): Promise<LoadGenerator> {
  const { child } = await Child.start<{ ready: true }>('load-child.ts', []);
  return {
    pid: child.process.pid ?? 0,
    run: (url, connections, seconds) => child.ask<LoadResult>({ url, connections, seconds } satisfies Omit<LoadBlock, 'id'>),
    send: (url, connections, amount) => child.ask<LoadResult>({ url, connections, seconds: 0, amount } satisfies Omit<LoadBlock, 'id'>),
    close: () => child.close(),
  };
}

/**
 * Over HTTP the route's own process must be what limits throughput, or the figure measures the load
 * generator: the route servers get every core but the last, the load generator and the fake provider share
 * the last. Needs `taskset` (util-linux) and ≥ 2 cores; otherwise nothing is pinned.
 */
export function pin(servers: number[], others: number[]): string {
  const cores = os.cpus().length;
  if (process.platform !== 'linux' || cores < 2 || spawnSync('taskset', ['-V']).status !== 0) return 'not pinned (no taskset or < 2 cores)';
  const last = String(cores - 1);
  const first = cores > 2 ? `0-${cores - 2}` : '0';
  const ok = (pid: number, set: string) => spawnSync('taskset', ['-a', '-p', '-c', set, String(pid)]).status === 0;
  if (![...servers.map((p) => ok(p, first)), ...others.map((p) => ok(p, last))].every(Boolean)) return 'not pinned (taskset failed)';
  return `route servers pinned to core${cores > 2 ? `s ${first}` : ' 0'}, the load generator and the fake provider to core ${last}`;
}
