import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { FakeBehavior, FakeStats } from '../../lib/testing';
import type { Phase, ToChild } from './upstream-child';

export interface UpstreamStats {
  total: FakeStats;
  byModel: Record<string, FakeStats>;
}

/** The fake provider running in a child process, driven over IPC. */
export interface RemoteUpstream {
  url: string;
  /** The child process's pid (the overhead bench pins it to a core). */
  pid: number;
  setBehavior(model: string, behavior: FakeBehavior): void;
  schedule(phases: Phase[]): void;
  resetRequests(): void;
  stats(): Promise<UpstreamStats>;
  close(): Promise<void>;
}

export async function startUpstream(behaviors: Record<string, FakeBehavior> = {}): Promise<RemoteUpstream> {
  const child: ChildProcess = fork(path.join(__dirname, 'upstream-child.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, FAKE_BEHAVIORS: JSON.stringify(behaviors) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fake provider exited (${code})`)));
    child.on('message', (m: { type: string; url?: string }) => {
      if (m.type === 'ready' && m.url) resolve(m.url);
    });
  });
  let nextId = 0;
  const send = (m: ToChild): void => {
    child.send(m);
  };
  return {
    url,
    pid: child.pid ?? 0,
    setBehavior: (model, behavior) => send({ type: 'setBehavior', model, behavior }),
    schedule: (phases) => send({ type: 'schedule', phases }),
    resetRequests: () => send({ type: 'resetRequests' }),
    stats: () =>
      new Promise((resolve) => {
        const id = ++nextId;
        const onMessage = (m: { type: string; id?: number } & UpstreamStats): void => {
          if (m.type === 'stats' && m.id === id) {
            child.off('message', onMessage);
            resolve({ total: m.total, byModel: m.byModel });
          }
        };
        child.on('message', onMessage);
        send({ type: 'stats', id });
      }),
    close: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
