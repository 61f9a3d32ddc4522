/**
 * npm run bench:startup — what loading the library costs an app's start: a cold `require('koa-llm-resilience')`
 * (the built package, dist/, as an app resolves it) and the first `llmResilience()`, each case in a fresh
 * process, several rounds taking turns, medians. In the same run and the same way: `require('koa')` +
 * `require('@koa/router')` (what a Koa app loads anyway) and a bare `require('openai')`.
 * Options: --runs N (default 15) fresh processes per case; --baseline <commit> also measures the library as it
 * was at that commit (its lib/ built into .bench-tmp/), named in the tables by --baseline-label; --out <name> (default startup) for bench/results/<name>.md/json.
 * Builds dist/ first (npm run build).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argValue, fmt, machine, median, table } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const RUNS = Number(argValue('runs', '15'));
const BASELINE = argValue('baseline', '');
/** How the tables name the baseline (the JSON keeps its commit). */
const BASELINE_LABEL = argValue('baseline-label', 'an earlier version');
const OUT = argValue('out', 'startup');

/** Options of the first `llmResilience()`: two models, the defaults otherwise (cache, breakers, tracing on). */
const FIRST_OPTIONS = `{ models: [
  { name: 'primary', model: 'gpt-4o-mini', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' },
  { name: 'backup', model: 'gpt-4.1-mini', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' },
] }`;

interface Case {
  key: string;
  label: string;
  /** Script run by `node -e` in the repository: prints one JSON line { requireMs, firstMs?, rssMb }. */
  script: string;
}

/** A child script: times `load` (a require), then `first` (optional), in milliseconds. */
function timed(load: string, first?: string): string {
  return `
const t0 = process.hrtime.bigint();
${load}
const t1 = process.hrtime.bigint();
${first ?? ''}
const t2 = process.hrtime.bigint();
const out = { requireMs: Number(t1 - t0) / 1e6, rssMb: process.memoryUsage().rss / 2 ** 20 };
${first ? 'out.firstMs = Number(t2 - t1) / 1e6;' : ''}
console.log(JSON.stringify(out));
${first ? 'Promise.resolve(mw.close()).then(() => process.exit(0));' : ''}`;
}

function cases(baselineDir: string | null): Case[] {
  const list: Case[] = [
    { key: 'node', label: 'node alone (no require)', script: timed('') },
    { key: 'koa', label: "require('koa') + require('@koa/router')", script: timed("require('koa'); require('@koa/router');") },
    { key: 'openai', label: "require('openai')", script: timed("require('openai');") },
    { key: 'ours', label: "require('koa-llm-resilience')", script: timed("const { llmResilience } = require('koa-llm-resilience');") },
    {
      key: 'ours-first',
      label: "require('koa-llm-resilience'), then the first llmResilience()",
      script: timed("const { llmResilience } = require('koa-llm-resilience');", `const mw = llmResilience(${FIRST_OPTIONS});`),
    },
    {
      key: 'app',
      label: "koa + @koa/router + koa-llm-resilience + first llmResilience() + openAICompatibleRouter()",
      script: timed(
        "require('koa'); require('@koa/router'); const { llmResilience, openAICompatibleRouter } = require('koa-llm-resilience');",
        `const mw = llmResilience(${FIRST_OPTIONS}); openAICompatibleRouter({ apiKeys: ['gateway-key-1'] });`,
      ),
    },
  ];
  if (baselineDir) {
    const entry = JSON.stringify(path.join(baselineDir, 'dist', 'index.js'));
    list.push(
      { key: 'baseline', label: `require() of the library, ${BASELINE_LABEL}`, script: timed(`const { llmResilience } = require(${entry});`) },
      {
        key: 'baseline-first',
        label: `the library, ${BASELINE_LABEL}: require(), then the first llmResilience()`,
        script: timed(`const { llmResilience } = require(${entry});`, `const mw = llmResilience(${FIRST_OPTIONS});`),
      },
    );
  }
  return list;
}

/** Builds lib/ of `commit` into .bench-tmp/startup-<commit>/dist (inside the repository, so it resolves node_modules). */
function buildBaseline(commit: string): string {
  const dir = path.join(ROOT, '.bench-tmp', `startup-${commit}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['archive', commit, 'lib', 'tsconfig.json', 'tsconfig.build.json'], { cwd: ROOT });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  return dir;
}

interface Sample {
  requireMs: number;
  firstMs?: number;
  rssMb: number;
}

function runOnce(c: Case): Sample {
  const r = spawnSync(process.execPath, ['-e', c.script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  if (r.status !== 0) throw new Error(`${c.label} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Sample;
}

/** Packages (with their dependencies, each counted once) installed for `names`, and their size on disk in MiB. */
function installed(names: readonly string[]): { packages: number; mib: number } {
  const dirs = new Set<string>();
  const find = (name: string, from: string): string | null => {
    for (let dir = from; ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
      if (path.dirname(dir) === dir) return null;
    }
  };
  const walk = (name: string, from: string): void => {
    const dir = find(name, from);
    if (!dir || dirs.has(dir)) return;
    dirs.add(dir);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) walk(dep, dir);
  };
  for (const name of names) walk(name, ROOT);
  const bytes = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => {
      if (e.name === 'node_modules') return sum;
      const p = path.join(dir, e.name);
      return sum + (e.isDirectory() ? bytes(p) : e.isFile() ? statSync(p).size : 0);
    }, 0);
  return { packages: dirs.size, mib: [...dirs].reduce((sum, d) => sum + bytes(d), 0) / 2 ** 20 };
}

function main(): void {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const baselineDir = BASELINE ? buildBaseline(BASELINE) : null;
  const list = cases(baselineDir);
  const loadBefore = os.loadavg();
  const samples = new Map<string, Sample[]>(list.map((c) => [c.key, []]));
  // One warm-up round (file system cache), not counted; then the cases take turns, so a busy moment hits all.
  for (const c of list) runOnce(c);
  for (let i = 0; i < RUNS; i++) for (const c of list) (samples.get(c.key) as Sample[]).push(runOnce(c));
  const loadAfter = os.loadavg();
  if (baselineDir) rmSync(baselineDir, { recursive: true, force: true });

  const results = list.map((c) => {
    const s = samples.get(c.key) as Sample[];
    const req = s.map((x) => x.requireMs);
    const first = s.filter((x) => x.firstMs !== undefined).map((x) => x.firstMs as number);
    return {
      key: c.key,
      label: c.label,
      runs: s.length,
      requireMs: { median: median(req), min: Math.min(...req), max: Math.max(...req) },
      firstMs: first.length ? { median: median(first), min: Math.min(...first), max: Math.max(...first) } : null,
      totalMedianMs: median(s.map((x) => x.requireMs + (x.firstMs ?? 0))),
      rssMb: median(s.map((x) => x.rssMb)),
    };
  });
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };
  const optional = Object.keys(pkg.peerDependencies).filter((n) => pkg.peerDependenciesMeta[n]?.optional);
  const required = Object.keys(pkg.peerDependencies).filter((n) => !optional.includes(n));
  const sizes = [
    { label: 'dependencies (installed with the package)', names: Object.keys(pkg.dependencies) },
    ...required.map((n) => ({ label: `${n} (required peer: the app's own copy)`, names: [n] })),
    ...optional.map((n) => ({ label: `${n} (optional peer: only if a feature needs it)`, names: [n] })),
  ].map((s) => ({ ...s, ...installed(s.names) }));
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const json = {
    date: new Date().toISOString(),
    machine: machine(),
    loadAverage: { before: loadBefore, after: loadAfter },
    version: pkg.version,
    commit,
    runs: RUNS,
    baseline: BASELINE || null,
    results,
    installedSize: sizes,
  };
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', `${OUT}.json`), `${JSON.stringify(json, null, 2)}\n`);

  const rows = results.map((r) => [
    r.label,
    `${fmt(r.requireMs.median, 1)} (${fmt(r.requireMs.min, 1)}–${fmt(r.requireMs.max, 1)})`,
    r.firstMs ? `${fmt(r.firstMs.median, 1)} (${fmt(r.firstMs.min, 1)}–${fmt(r.firstMs.max, 1)})` : '',
    fmt(r.totalMedianMs, 1),
    fmt(r.rssMb, 0),
  ]);
  const md = `# Start-up cost (cold require and first middleware)

Machine: ${json.machine}  
Run: ${json.date}, package ${pkg.version}. Load average (1/5/15 min) before: ${loadBefore.map((l) => fmt(l, 2)).join(' / ')}, after: ${loadAfter.map((l) => fmt(l, 2)).join(' / ')}.

Each case runs in a fresh \`node -e\` process (${RUNS} processes per case, after one uncounted warm-up round; the cases take turns). Times are measured inside the process with \`process.hrtime\`: the \`require()\` calls, then the first \`llmResilience()\` (two models, default options: cache, breakers, tracing on). Node's own start (about the same for every case) is not included. Median (min–max), in milliseconds; RSS is the process's resident memory at the end, median, in MiB.

${table(['case', 'require (ms)', 'first llmResilience() (ms)', 'total, median (ms)', 'RSS (MiB)'], rows)}

What \`require('koa-llm-resilience')\` does not load: the openai SDK, undici and @opentelemetry/api are loaded by the first \`llmResilience()\`, @koa/router by the first router the library makes; prom-client, gpt-tokenizer and ioredis (optional peer dependencies) by the feature that uses them (\`metricsMiddleware()\`, a token limit, budget or context window, \`redisStore()\`), and never if it is not used. ajv's compiler is loaded only for a request that brings a response schema: the library's own schemas (options, requests) are checked by validators generated at build time.

## Installed size

Packages installed, each once with its dependencies (as in this repository's node_modules; shared dependencies counted in each row), and their size on disk:

${table(['what', 'packages', 'MiB'], sizes.map((s) => [s.label, s.packages, fmt(s.mib, 1)]))}
`;
  writeFileSync(path.join(ROOT, 'bench', 'results', `${OUT}.md`), md);
  console.log(md);
}

main();
