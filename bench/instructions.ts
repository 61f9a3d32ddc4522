/**
 * npm run bench:instructions — what each route costs in instructions, which do not depend on how busy the
 * machine is (the HTTP section of bench:overhead does). Each strategy's Koa route runs alone in its own
 * process under `valgrind --tool=callgrind`, instrumentation off; after a warm-up of HTTP requests
 * (the JIT settles), instructions are counted over a fixed number of further requests. All the process's
 * threads count (the SDK's, Koa's, V8's compiler and GC threads included); the fake provider runs in its own
 * process and is not counted. Needs valgrind (Debian: valgrind).
 * Options: --warm N (default 6000), --requests N (default 300), --rounds N (default 1), --routes a,b (default
 * bare,bare-transport,ours,langchain,ai-sdk), --concurrency N connections, each sending its next request when its last one
 * ends (default 1: sequential; results of another N go to instructions-cN.md/json, so what grows with the
 * requests in flight, such as the GC helper threads' work, shows); --render rebuilds the results page from the
 * committed json (of --concurrency N).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startRouteServer } from './lib/load';
import { ROUTE_LABELS, type RouteKind } from './lib/route-server';
import { argValue, fmt, machine, table } from './lib/stats';
import { startUpstream } from './lib/upstream';

const WARM = Number(argValue('warm', '6000'));
const REQUESTS = Number(argValue('requests', '300'));
const ROUNDS = Number(argValue('rounds', '1'));
const ROUTES = argValue('routes', 'bare,bare-transport,ours,langchain,ai-sdk').split(',') as RouteKind[];
const CONCURRENCY = Number(argValue('concurrency', '1'));

/** n POST /chat on `concurrency` keep-alive connections, each sending its next request when its last one ends. */
async function requests(url: string, n: number, concurrency = CONCURRENCY): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify({ text: 'hello' });
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${url}/chat`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`route answered ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < n) {
      sent++;
      await one();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } finally {
    agent.destroy();
  }
}

function control(command: string[], pid: number): void {
  const r = spawnSync('callgrind_control', [...command, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${command.join(' ')} failed: ${r.stderr}`);
}

interface Count {
  /** Every thread of the process. */
  total: number;
  /** The event loop's thread alone (JavaScript, the SDK, Koa, the library; not V8's background compiler or GC helpers). */
  main: number;
}

/** Instructions per request of one route process. */
async function measure(kind: RouteKind, upstreamUrl: string, dir: string, round: number): Promise<Count> {
  const out = path.join(dir, `${kind}-${round}.out`);
  const cfg = { url: upstreamUrl, primary: 'primary', fallback: 'fallback', timeoutMs: 2000, resetMs: 60_000 };
  const server = await startRouteServer(kind, cfg, 'http', ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${out}`]);
  try {
    await requests(server.url, WARM);
    control(['-i', 'on'], server.pid);
    control(['-z'], server.pid); // counters to zero
    await requests(server.url, REQUESTS);
    control(['-d'], server.pid); // dump: <out>.1-01 (main thread), <out>.1-02 …
    const prefix = `${path.basename(out)}.1-`;
    const counts = readdirSync(dir)
      .filter((f) => f.startsWith(prefix))
      .sort()
      .map((f) => Number(/^(?:summary|totals):\s*(\d+)/m.exec(readFileSync(path.join(dir, f), 'utf8'))?.[1] ?? NaN));
    if (counts.length === 0 || !(counts[0] > 0)) throw new Error(`no instructions counted in ${out}.1-01`);
    return { total: counts.reduce((a, b) => a + (b || 0), 0) / REQUESTS, main: counts[0] / REQUESTS };
  } finally {
    await server.close();
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / (xs.length || NaN);

type PerRoute = Partial<Record<RouteKind, number[]>>;

function rows(per: PerRoute): (string | number)[][] {
  const base = mean(per.bare ?? []);
  return ROUTES.map((k) => {
    const m = mean(per[k] ?? []);
    return [ROUTE_LABELS[k], fmt(m), (per[k] ?? []).map((x) => fmt(x)).join(', '), `${m >= base ? '+' : ''}${fmt(((m - base) / base) * 100, 1)}%`, fmt(base / m, 3)];
  });
}

/** The results page: the mean over rounds (each round a new process) and each round's count. */
function render(total: PerRoute, main: PerRoute | undefined, date: string, warm: number, requests: number, concurrency: number): string[] {
  const rounds = Math.max(...Object.values(total).map((xs) => xs.length));
  const header = ['route', 'instructions/request (mean of rounds)', 'each round', 'vs bare', 'predicted throughput vs bare'];
  return [
    '# Instructions per request (callgrind)',
    '',
    `Machine: ${machine()}  `,
    `Run: ${date}. Each route alone in its own process under \`valgrind --tool=callgrind\`; ${warm} HTTP requests of warm-up uncounted, then ${requests} counted, ${concurrency === 1 ? 'sequential (one connection)' : `on ${concurrency} connections at once (each sends its next request when its last one ends)`}; ${rounds} round${rounds === 1 ? '' : 's'} (a new process each). The fake provider is not counted.`,
    '',
    "Instruction counts do not depend on how busy the machine is. They still differ from one process to the next, by several per cent, the event loop's thread alone too: V8's optimizing compiler, still at work after the warm-up (about a tenth of all instructions in the runs broken down by function), runs on its own schedule, and what it has compiled by when differs per process. Compare the rounds of a route before reading a difference between routes. They are not time: on a route bound by its own CPU, the inverse ratio predicts its throughput vs the bare route.",
    '',
    '## Every thread of the route process (V8\'s background compiler and GC helpers included)',
    '',
    table(header, rows(total)),
    '',
    ...(main
      ? ['## The event loop\'s thread alone (JavaScript: Koa, the SDK, the library; no background compiler or GC helper)', '', table(header, rows(main)), '']
      : []),
  ];
}

async function main(): Promise<void> {
  const results = path.join(__dirname, 'results', CONCURRENCY === 1 ? 'instructions' : `instructions-c${CONCURRENCY}`);
  if (process.argv.includes('--render')) {
    // Rebuild the results page from the committed raw counts (no measuring).
    const saved = JSON.parse(readFileSync(`${results}.json`, 'utf8')) as { date: string; warm: number; requests: number; concurrency?: number; perRequest: PerRoute; mainThread?: PerRoute };
    writeFileSync(`${results}.md`, render(saved.perRequest, saved.mainThread, saved.date, saved.warm, saved.requests, saved.concurrency ?? 1).join('\n'));
    return;
  }
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('bench:instructions needs valgrind (apt-get install valgrind)');
  const up = await startUpstream();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'klr-callgrind-'));
  const total: PerRoute = {};
  const mainThread: PerRoute = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ROUTES) {
        const c = await measure(kind, up.url, dir, round);
        (total[kind] ??= []).push(c.total);
        (mainThread[kind] ??= []).push(c.main);
        console.log(`${kind} round ${round + 1}: ${Math.round(c.total)} instructions/request (${Math.round(c.main)} on the main thread)`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await up.close();
  }
  const out = render(total, mainThread, new Date().toISOString(), WARM, REQUESTS, CONCURRENCY);
  writeFileSync(`${results}.md`, out.join('\n'));
  writeFileSync(`${results}.json`, JSON.stringify({ machine: machine(), date: new Date().toISOString(), warm: WARM, requests: REQUESTS, concurrency: CONCURRENCY, perRequest: total, mainThread }, null, 2));
  console.log(out.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
