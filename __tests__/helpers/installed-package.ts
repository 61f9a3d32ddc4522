import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');
const MODULES = path.join(ROOT, 'node_modules');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  exports: unknown;
  dependencies: Record<string, string>;
};

let built: string | null = null;

/** lib/ compiled to CommonJS (transpiled file by file, as `npm run build` would emit it) in a directory of its own. */
function buildOnce(): string {
  if (built) return built;
  const out = mkdtempSync(path.join(os.tmpdir(), 'klr-dist-'));
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        const js = ts.transpileModule(readFileSync(file, 'utf8'), {
          fileName: file,
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, isolatedModules: true },
        }).outputText;
        const target = path.join(out, path.relative(path.join(ROOT, 'lib'), file)).replace(/\.ts$/, '.js');
        mkdirSync(path.dirname(target), { recursive: true });
        writeFileSync(target, js);
      }
    }
  };
  walk(path.join(ROOT, 'lib'));
  built = out;
  return out;
}

export interface InstalledApp {
  /** The app's directory: `node_modules/` holds the package and exactly the packages given. */
  readonly dir: string;
  /** Writes `code` to `<dir>/<name>` and runs it with `node`; resolves with the first line it prints. */
  start(name: string, code: string, env?: Record<string, string>): Promise<{ child: ChildProcess; firstLine: string }>;
  /** Runs `code` to its end; resolves with what it printed (rejects on a non-zero exit). */
  run(name: string, code: string, env?: Record<string, string>): Promise<string>;
  /** Stops what it started and removes the directory. */
  remove(): void;
}

/**
 * An app directory laid out as npm installs koa-llm-resilience into an app: `node_modules/koa-llm-resilience`
 * (package.json and dist/, compiled from lib/) with its dependencies in its own node_modules, and the packages the
 * app installed (the peers) at the top, each a link to a copy in this repository's node_modules (`{ koa: 'koa2' }`: the app's `koa` is the `koa2` alias). Whatever the
 * library requires is resolved from the app, as in a real install: nothing else is on the way.
 */
export function installedApp(peers: Record<string, string>): InstalledApp {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'klr-app-'));
  const modules = path.join(dir, 'node_modules');
  const link = (into: string, name: string, target: string): void => {
    mkdirSync(path.dirname(path.join(into, name)), { recursive: true });
    symlinkSync(path.join(MODULES, target), path.join(into, name), 'dir');
  };
  const own = path.join(modules, PKG.name);
  mkdirSync(own, { recursive: true });
  writeFileSync(path.join(own, 'package.json'), JSON.stringify({ name: PKG.name, main: PKG.main, exports: PKG.exports }));
  cpSync(buildOnce(), path.join(own, 'dist'), { recursive: true });
  // The package's own dependencies nested under it (as npm does when the app has other versions of them), the
  // app's packages at the top: a package the library lists as a dependency would shadow the app's copy.
  for (const dep of Object.keys(PKG.dependencies)) link(path.join(own, 'node_modules'), dep, dep);
  for (const [name, target] of Object.entries(peers)) link(modules, name, target);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));

  const children = new Set<ChildProcess>();
  const launch = (name: string, code: string, env: Record<string, string>): ChildProcess => {
    writeFileSync(path.join(dir, name), code);
    // No NODE_PATH, no NODE_OPTIONS (jest's or ts-node's): the app resolves modules from its own node_modules only.
    const { NODE_PATH: _p, NODE_OPTIONS: _o, ...rest } = process.env;
    const child = spawn(process.execPath, [name], { cwd: dir, env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  };
  return {
    dir,
    start(name, code, env = {}) {
      const child = launch(name, code, env);
      return new Promise((resolve, reject) => {
        let out = '';
        let err = '';
        child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const nl = out.indexOf('\n');
          if (nl >= 0) resolve({ child, firstLine: out.slice(0, nl) });
        });
        child.on('exit', (code) => reject(new Error(`${name} exited (${code}) before it printed a line: ${err}`)));
      });
    },
    run(name, code, env = {}) {
      const child = launch(name, code, env);
      return new Promise((resolve, reject) => {
        let out = '';
        let err = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${name} exited (${code}): ${err}${out}`))));
      });
    },
    remove() {
      for (const c of children) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Removes the compiled copy of lib/ (call once, in an afterAll). */
export function removeBuild(): void {
  if (built) rmSync(built, { recursive: true, force: true });
  built = null;
}
