/**
 * npm run bench:overhead — what the library adds over the bare openai SDK, beside the peers users would
 * pick instead, in one interleaved run against a fake provider (own process) that answers instantly.
 *   0. pure CPU: every variant with the same stub `fetch` (no network), so only SDK + library work is measured
 *   0b. the same for the whole Koa route, in memory (no socket), each strategy alone in its own processes
 *   0c. pure CPU for a typical request (system prompt, maxTokens, temperature, task) with the library's defaults
 *   1. in process: engine.complete() (cache off) vs the bare SDK (and LangChain / AI SDK), concurrency 1 and 50
 *   2. a cache hit
 *   3. over HTTP, in simultaneous pairs: each strategy's Koa route and a bare-SDK twin, each alone in its own
 *      server process, loaded at the same time (one persistent autocannon each, own processes) while they share
 *      a core, concurrency 1 and 50 per side, one warmed pair at a time; control pairs (bare beside bare) show the rig's resolution, and
 *      calibration pairs (bare beside bare + a fixed amount of JS work, whose hot cost 0b measures) show what
 *      the rig charges for a known cost
 *   3b. the same warmed, pinned pairs, right after their section 3 blocks, each side loaded alone in turn (A B B A
 *      sets of blocks, alternated and quoted as medians): each route has core 0 to itself while it is loaded, as an
 *      app's server has its own, and the machine's drift is cancelled only by the order of the blocks
 * Run with --expose-gc (npm run bench:overhead does): each in-process block starts from a collected heap.
 * Options: --rounds N (default 5), --calls N per in-process block (default 2000), --seconds S per HTTP block
 * (default 1), --http-rounds N blocks per strategy and connection count in 3, split over its pairs (default 40),
 * --instances N processes per strategy in 0b, pairs per strategy in 3 (default 3), --work-rounds N of fixed JS work per request on the calibration route (default 60),
 * --warm-requests N each server process of section 3 serves before it is measured (default 15000),
 * --alone-sets N of section 3b per pair and connection count (default 3; 0 skips 3b).
 * Ratios and added costs are medians of per-round pairs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
import { createFallback } from 'ai-fallback';
import OpenAI from 'openai';
import { createEngine } from '../lib';
import { undiciTransport } from '../lib/providers/openai/undici-transport';
import { argValue, fmt, machine, median, summarize, table } from './lib/stats';
import type { StrategyConfig } from './lib/strategies';
import { STUB_URL, stubFetch } from './lib/stub';
import { startUpstream } from './lib/upstream';
import { pin, startLoadGenerator, startRouteServer, type RouteServer } from './lib/load';
import { ROUTE_LABELS, type RouteKind, type RouteMode } from './lib/route-server';

const ROUNDS = Number(argValue('rounds', '5'));
const CALLS = Number(argValue('calls', '2000'));
const SECONDS = Number(argValue('seconds', '1'));
const HTTP_ROUNDS = Number(argValue('http-rounds', '40'));
const INSTANCES = Number(argValue('instances', '3'));
const WORK_ROUNDS = Number(argValue('work-rounds', '60'));
/** Section 3: requests each server process serves before anything is measured (its JIT's warm-up). */
const WARM_REQUESTS = Number(argValue('warm-requests', '15000'));
const WARM_BLOCK = 2500;
/** Section 3b: A B B A sets per pair and connection count, each side loaded alone (0 skips the section). */
const ALONE_SETS = Number(argValue('alone-sets', '3'));
/** Section 0b: rounds of in-memory blocks (several per process, since each process has its own luck). */
const ROUTE_ROUNDS = 4 * ROUNDS;
const ROUTE_BLOCK = 2000;
const KEY = 'bench-key';
const FLOOR = ROUTE_LABELS.bare;
const CONTROL = 'control: the same bare-SDK route, other processes';
const msgs = [{ role: 'user' as const, content: 'Summarize: the quick brown fox jumps over the lazy dog.' }];
/** Section 0c's system prompt: about 400 characters, the same on every request, as an app's usually is. */
const TYPICAL_SYSTEM =
  'You are the support assistant of an online shop. Answer in at most three sentences, in the language of the question. ' +
  'Never invent order numbers, prices or delivery dates; when the ticket lacks them, say what is missing. ' +
  'Summaries start with the customer\'s problem, then what was tried, then the next step. Do not include personal data.';

type Fn = () => Promise<unknown>;
interface Block {
  p50: number;
  p99: number;
  cpuUs: number;
  perSec: number;
}

/**
 * Every block starts from a collected heap (run with --expose-gc): otherwise a block pays for the garbage the
 * previous variant left, and whoever follows the heaviest allocator is charged for its major GC.
 */
async function cleanHeap(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 20));
}

async function block(fn: Fn, calls: number, concurrency: number): Promise<Block> {
  await cleanHeap();
  const lat: number[] = new Array(calls);
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        const i = next++;
        const s = performance.now();
        await fn();
        lat[i] = (performance.now() - s) * 1000;
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s = summarize(lat);
  return { p50: s.p50, p99: s.p99, cpuUs: (cpu.user + cpu.system) / calls, perSec: (calls / wall) * 1000 };
}

/**
 * Median over rounds of a comparison with the floor measured in the same round: the machine's load drifts,
 * and pairing each block with its neighbour cancels most of that drift.
 */
function paired<T>(xs: T[], floor: T[], f: (x: T, base: T) => number): number {
  return median(xs.map((x, i) => f(x, floor[i])));
}

/** A seeded PRNG (mulberry32), so a run's block order can be reproduced. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shuffled copy (Fisher–Yates): no strategy always runs first, last, or next to the same neighbour. */
function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** First and third quartiles. */
function quartiles(xs: number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return [at(0.25), at(0.75)];
}

function medians(blocks: Block[]): Block {
  return {
    p50: median(blocks.map((b) => b.p50)),
    p99: median(blocks.map((b) => b.p99)),
    cpuUs: median(blocks.map((b) => b.cpuUs)),
    perSec: median(blocks.map((b) => b.perSec)),
  };
}

/**
 * Sections 0 and 0c: pure-CPU blocks of every variant (stub `fetch`, concurrency 1), interleaved round by round;
 * pushes the section to `out` (the first variant is the floor) and returns each variant's medians.
 */
async function pureCpu(variants: [string, Fn][], out: string[], heading: string, note: string): Promise<Record<string, Block>> {
  const per: Record<string, Block[]> = Object.fromEntries(variants.map(([name]) => [name, []]));
  for (const [, fn] of variants) await block(fn, 5000, 1); // warm-up
  for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of variants) per[name].push(await block(fn, 10_000, 1));
  const m = Object.fromEntries(Object.entries(per).map(([name, b]) => [name, medians(b)]));
  const base = m[variants[0][0]];
  out.push(heading, '', note, '');
  out.push(
    table(
      ['variant', 'CPU µs/call', 'added CPU µs/call', 'p50 µs', 'p99 µs', 'calls/s', 'ratio vs bare'],
      Object.entries(m).map(([name, b]) => [name, fmt(b.cpuUs, 1), fmt(b.cpuUs - base.cpuUs, 1), fmt(b.p50, 1), fmt(b.p99, 1), fmt(b.perSec), fmt(b.perSec / base.perSec, 2)]),
    ),
    '',
  );
  return m;
}

/** One side of an HTTP sample: a route's throughput, latency and CPU per request. */
type Side = { rps: number; p50: number; p99: number; cpuUs: number; bad: number };
/** One HTTP sample of a pair (section 3: a block, both sides at once; 3b: an A B B A set). */
type Pair = { name: string; i: number; connections: number; route: Side; floor: Side };

/** Sections 3 and 3b: each strategy's medians over its samples at one connection count, as a table in `out`. */
function httpSection(samples: Pair[], connections: number, out: string[], heading: string, unit: string) {
  const per: Record<string, Pair[]> = {};
  for (const b of samples) if (b.connections === connections) (per[b.name] ??= []).push(b);
  const m = Object.fromEntries(
    PAIRED.map(([n]) => {
      const bs = per[n] ?? [];
      const ratios = bs.map((b) => b.route.rps / b.floor.rps);
      return [
        n,
        {
          rps: median(bs.map((b) => b.route.rps)),
          floorRps: median(bs.map((b) => b.floor.rps)),
          ratio: median(ratios),
          ratioIqr: quartiles(ratios),
          perPair: Array.from({ length: INSTANCES }, (_, k) => median(bs.filter((b) => b.i === k).map((b) => b.route.rps / b.floor.rps))),
          p50: median(bs.map((b) => b.route.p50)),
          p99: median(bs.map((b) => b.route.p99)),
          cpuUs: median(bs.map((b) => b.route.cpuUs)),
          addedCpuUs: median(bs.map((b) => b.route.cpuUs - b.floor.cpuUs)),
          cpuRatio: median(bs.map((b) => b.route.cpuUs / b.floor.cpuUs)),
          bad: bs.reduce((a, b) => a + b.route.bad + b.floor.bad, 0),
        },
      ];
    }),
  );
  out.push(heading, '');
  out.push(
    table(
      ['route (vs its bare-SDK twin)', 'req/s', 'twin req/s', 'throughput vs bare', `middle half of the ${unit}`, 'per pair of processes', 'p50 ms', 'p99 ms', 'CPU µs/req', 'added CPU µs/req', 'CPU vs bare', 'non-2xx + errors (both sides)'],
      Object.entries(m).map(([n, b]) => [
        n,
        fmt(b.rps),
        fmt(b.floorRps),
        fmt(b.ratio, 2),
        `${fmt(b.ratioIqr[0], 2)}–${fmt(b.ratioIqr[1], 2)}`,
        b.perPair.map((x) => fmt(x, 2)).join(' · '),
        fmt(b.p50, 2),
        fmt(b.p99, 2),
        fmt(b.cpuUs),
        fmt(b.addedCpuUs),
        fmt(b.cpuRatio, 2),
        b.bad,
      ]),
    ),
    '',
  );
  return m;
}

/** Section 3's pairs: each strategy beside a bare-SDK twin; the control pairs two bare-SDK routes. */
const PAIRED: [string, RouteKind][] = [
  [CONTROL, 'bare'],
  [ROUTE_LABELS['bare-transport'], 'bare-transport'],
  [ROUTE_LABELS.ours, 'ours'],
  [ROUTE_LABELS.langchain, 'langchain'],
  [ROUTE_LABELS['ai-sdk'], 'ai-sdk'],
  [ROUTE_LABELS.calibration, 'calibration'],
];

/** Section 0b's routes, each in its own processes; the control is the floor again, in other processes. */
const ROUTES: [string, RouteKind][] = [
  [FLOOR, 'bare'],
  [CONTROL, 'bare'],
  [ROUTE_LABELS.ours, 'ours'],
  [ROUTE_LABELS.langchain, 'langchain'],
  [ROUTE_LABELS['ai-sdk'], 'ai-sdk'],
  [ROUTE_LABELS.calibration, 'calibration'],
];

async function startRoutes(cfg: StrategyConfig, mode: RouteMode): Promise<{ name: string; instances: RouteServer[] }[]> {
  const routes: { name: string; instances: RouteServer[] }[] = [];
  for (const [name, kind] of ROUTES) {
    const instances: RouteServer[] = [];
    for (let i = 0; i < INSTANCES; i++) instances.push(await startRouteServer(kind, cfg, mode));
    routes.push({ name, instances });
  }
  return routes;
}

async function main(): Promise<void> {
  const up = await startUpstream();
  const cfg: StrategyConfig = { url: up.url, primary: 'primary', fallback: 'fallback', timeoutMs: 2000, resetMs: 60_000, workRounds: WORK_ROUNDS };
  const out: string[] = [`# Overhead benchmark`, '', `Machine: ${machine()}  `, `Run: ${new Date().toISOString()}. Variants interleaved (in process: A B C D …, each block from a collected heap; in processes of their own: a shuffled order each round); ratios and added costs are medians of per-round pairs with the floor.`, ''];
  const json: Record<string, unknown> = { machine: machine(), date: new Date().toISOString() };

  // 0. Pure CPU, no network: the same stub fetch under every variant.
  const stubClient = new OpenAI({ baseURL: STUB_URL, apiKey: KEY, maxRetries: 0, logLevel: 'off', fetch: stubFetch });
  const stubEngine = createEngine({
    models: [
      { name: 'primary', model: 'primary', baseURL: STUB_URL, apiKey: KEY },
      { name: 'fallback', model: 'fallback', baseURL: STUB_URL, apiKey: KEY },
    ],
    cache: false,
    fetch: stubFetch,
  });
  const stubLc = new ChatOpenAI({ model: 'primary', apiKey: KEY, maxRetries: 0, configuration: { baseURL: STUB_URL, fetch: stubFetch } }).withFallbacks([
    new ChatOpenAI({ model: 'fallback', apiKey: KEY, maxRetries: 0, configuration: { baseURL: STUB_URL, fetch: stubFetch } }),
  ]);
  const stubOa = createOpenAI({ baseURL: STUB_URL, apiKey: KEY, fetch: stubFetch });
  const stubAi = createFallback({ models: [stubOa.chat('primary'), stubOa.chat('fallback')] });
  const stubVariants: [string, Fn][] = [
    [FLOOR, () => stubClient.chat.completions.create({ model: 'primary', messages: msgs })],
    ['koa-llm-resilience engine.complete (cache off)', () => stubEngine.complete({ messages: msgs })],
    [ROUTE_LABELS.langchain, () => stubLc.invoke(msgs)],
    [ROUTE_LABELS['ai-sdk'], () => generateText({ model: stubAi, messages: msgs, maxRetries: 0 })],
  ];
  {
    json.pureCpu = await pureCpu(
      stubVariants,
      out,
      '## 0. Pure CPU per call: the same stub `fetch` under every variant (no network, concurrency 1)',
      'The most precise figure of what each layer costs: no socket, no other process, only SDK and library code.',
    );
    await stubEngine.close();
  }

  // 0c. The same, for a request as an app sends it (a system prompt, a per-request user message, maxTokens,
  // temperature, a task label) and with the library's defaults: the narrow request of section 0 skips paths that
  // real requests take (the adaptive timeout's maxTokens scaling, the cache key, token counting).
  {
    const models = [
      { name: 'primary', model: 'primary', baseURL: STUB_URL, apiKey: KEY },
      { name: 'fallback', model: 'fallback', baseURL: STUB_URL, apiKey: KEY },
    ];
    const offEngine = createEngine({ models, cache: false, fetch: stubFetch });
    const onEngine = createEngine({ models, fetch: stubFetch });
    const tokenEngine = createEngine({ models: models.map((m) => ({ ...m, contextWindow: 128_000 })), cache: false, fetch: stubFetch });
    let n = 0;
    const typical = () => [
      { role: 'system' as const, content: TYPICAL_SYSTEM },
      { role: 'user' as const, content: `Summarize ticket #${++n}: the customer cannot log in after the update.` },
    ];
    const variants: [string, Fn][] = [
      ['bare openai SDK, the same request (max_tokens, temperature)', () => stubClient.chat.completions.create({ model: 'primary', messages: typical(), max_tokens: 256, temperature: 0.2 })],
      ['engine.complete, cache off', () => offEngine.complete({ messages: typical(), maxTokens: 256, temperature: 0.2, task: 'summary' })],
      ['engine.complete, defaults (cache on; every call a miss)', () => onEngine.complete({ messages: typical(), maxTokens: 256, temperature: 0.2, task: 'summary' })],
      ['engine.complete, cache off, models with a contextWindow (tokens counted)', () => tokenEngine.complete({ messages: typical(), maxTokens: 256, temperature: 0.2, task: 'summary' })],
    ];
    json.typicalRequest = await pureCpu(
      variants,
      out,
      '## 0c. Pure CPU per call for a typical request (system prompt, a new user message each call, maxTokens, temperature, task; stub `fetch`, concurrency 1)',
      "Section 0 sends the narrowest request; this one takes the paths an app's requests take, with the library's defaults.",
    );
    for (const e of [offEngine, onEngine, tokenEngine]) await e.close();
  }

  // 0b. The whole Koa route (body parsing, middleware, the call, the JSON response), still without a socket,
  // each strategy alone in its own processes.
  {
    const routes = await startRoutes(cfg, 'stub');
    const per: Record<string, { cpuUs: number; perSec: number }[]> = Object.fromEntries(routes.map((r) => [r.name, []]));
    for (const r of routes) for (const s of r.instances) await s.block(3000); // warm-up (and a check that every route answers 200)
    const random = seeded(0);
    for (let round = 0; round < ROUTE_ROUNDS; round++) {
      for (const r of shuffle(routes, random)) {
        const s = r.instances[round % INSTANCES];
        const b = await s.block(ROUTE_BLOCK);
        per[r.name].push({ cpuUs: b.us / ROUTE_BLOCK, perSec: ROUTE_BLOCK / (b.ms / 1000) });
      }
    }
    const m = Object.fromEntries(
      routes.map(({ name: n }) => [n, { cpuUs: median(per[n].map((b) => b.cpuUs)), perSec: median(per[n].map((b) => b.perSec)), addedCpuUs: paired(per[n], per[FLOOR], (x, f) => x.cpuUs - f.cpuUs) }]),
    );
    json.pureCpuRoute = m;
    out.push(
      `## 0b. Pure CPU per request of the whole Koa route (the same stub \`fetch\`; Koa driven with in-memory requests, no socket; each strategy alone in its own processes, ${INSTANCES} each, ${ROUTE_ROUNDS} rounds of ${ROUTE_BLOCK} sequential requests, a shuffled order each round)`,
      '',
    );
    out.push(
      table(
        ['route', 'CPU µs/req', 'added CPU µs/req', 'requests/s'],
        Object.entries(m).map(([n, b]) => [n, fmt(b.cpuUs, 1), fmt(b.addedCpuUs, 1), fmt(b.perSec)]),
      ),
      '',
    );
    for (const r of routes) for (const s of r.instances) await s.close();
  }

  // 1. In process, on loopback.
  const client = new OpenAI({ baseURL: up.url, apiKey: KEY, maxRetries: 0, logLevel: 'off' });
  const defaultClient = new OpenAI({ baseURL: up.url, apiKey: KEY, maxRetries: 0 });
  // The library's default transport under the bare SDK: the floor once both sides send the same way.
  const transport = undiciTransport();
  const transportClient = new OpenAI({ baseURL: up.url, apiKey: KEY, maxRetries: 0, logLevel: 'off', fetch: transport.fetch });
  const engine = createEngine({
    models: [
      { name: 'primary', model: 'primary', baseURL: up.url, apiKey: KEY },
      { name: 'fallback', model: 'fallback', baseURL: up.url, apiKey: KEY },
    ],
    cache: false,
  });
  const lc = new ChatOpenAI({ model: 'primary', apiKey: KEY, maxRetries: 0, configuration: { baseURL: up.url } }).withFallbacks([
    new ChatOpenAI({ model: 'fallback', apiKey: KEY, maxRetries: 0, configuration: { baseURL: up.url } }),
  ]);
  const oa = createOpenAI({ baseURL: up.url, apiKey: KEY });
  const aiModel = createFallback({ models: [oa.chat('primary'), oa.chat('fallback')] });
  const variants: [string, Fn][] = [
    [FLOOR, () => client.chat.completions.create({ model: 'primary', messages: msgs })],
    ['bare openai SDK (maxRetries 0, default logLevel)', () => defaultClient.chat.completions.create({ model: 'primary', messages: msgs })],
    [ROUTE_LABELS['bare-transport'], () => transportClient.chat.completions.create({ model: 'primary', messages: msgs })],
    ['koa-llm-resilience engine.complete (cache off)', () => engine.complete({ messages: msgs, cache: false })],
    [ROUTE_LABELS.langchain, () => lc.invoke(msgs)],
    [ROUTE_LABELS['ai-sdk'], () => generateText({ model: aiModel, messages: msgs, maxRetries: 0 })],
  ];
  out.push('## 1. In process (µs per call; CPU = user+system of this process, the provider runs in its own)', '');
  const inProc: Record<string, Record<string, Block>> = {};
  for (const concurrency of [1, 50]) {
    const per: Record<string, Block[]> = Object.fromEntries(variants.map(([n]) => [n, []]));
    for (const [, fn] of variants) await block(fn, 3000, concurrency); // warm-up
    for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of variants) per[name].push(await block(fn, CALLS, concurrency));
    const m = Object.fromEntries(Object.entries(per).map(([n, b]) => [n, medians(b)]));
    inProc[`c${concurrency}`] = m;
    out.push(`### concurrency ${concurrency}`, '');
    out.push(
      table(
        ['variant', 'calls/s', 'ratio vs bare', 'p50 µs', 'p99 µs', 'added p50 µs', 'added p99 µs', 'CPU µs/call', 'added CPU µs/call'],
        Object.entries(m).map(([n, b]) => [
          n,
          fmt(b.perSec),
          fmt(paired(per[n], per[FLOOR], (x, f) => x.perSec / f.perSec), 2),
          fmt(b.p50),
          fmt(b.p99),
          fmt(paired(per[n], per[FLOOR], (x, f) => x.p50 - f.p50)),
          fmt(paired(per[n], per[FLOOR], (x, f) => x.p99 - f.p99)),
          fmt(b.cpuUs),
          fmt(paired(per[n], per[FLOOR], (x, f) => x.cpuUs - f.cpuUs)),
        ]),
      ),
      '',
    );
  }
  json.inProcess = inProc;

  // 2. Cache hit.
  const cached = createEngine({ models: [{ name: 'primary', model: 'primary', baseURL: up.url, apiKey: KEY }] });
  await cached.complete({ messages: msgs, temperature: 0 });
  const hits: Block[] = [];
  for (let r = 0; r < ROUNDS; r++) hits.push(await block(() => cached.complete({ messages: msgs, temperature: 0 }), 20_000, 1));
  const hit = medians(hits);
  json.cacheHit = hit;
  out.push('## 2. Cache hit (in process, concurrency 1)', '', table(['calls/s', 'p50 µs', 'p99 µs', 'CPU µs/call'], [[fmt(hit.perSec), fmt(hit.p50, 1), fmt(hit.p99, 1), fmt(hit.cpuUs, 1)]]), '');

  // 3. Over HTTP, in simultaneous pairs: each strategy's route and a bare-SDK twin, each alone in its own server
  // process, loaded at the same time (one autocannon each) while they share core 0. Whatever the machine does
  // during a block, both sides of the pair live through it, so the ratio keeps only what the routes cost.
  // One pair at a time, start to finish: started, warmed, pinned, measured (its blocks at 1 and at 50 connections,
  // alternating), closed. A route process left idle between its blocks (a minute and more, when the rounds went
  // round 8 pairs of 5 strategies) spent twice the CPU per request when loaded again, for seconds: it no longer
  // measured the warm process the warm-up had made.
  const gens = [await startLoadGenerator(), await startLoadGenerator()];
  const BLOCKS = Math.max(1, Math.round(HTTP_ROUNDS / INSTANCES));
  const blocks: Pair[] = [];
  /** Section 3b: one entry per A B B A set, each side the mean of its two blocks. */
  const aloneSets: Pair[] = [];
  const meanSide = (xs: Side[]): Side => ({
    rps: (xs[0].rps + xs[1].rps) / 2,
    p50: (xs[0].p50 + xs[1].p50) / 2,
    p99: (xs[0].p99 + xs[1].p99) / 2,
    cpuUs: (xs[0].cpuUs + xs[1].cpuUs) / 2,
    bad: xs[0].bad + xs[1].bad,
  });
  const warm: Record<string, { first: number[]; last: number[] }> = {};
  let pinNote = '';
  const side = async (s: RouteServer, gen: (typeof gens)[number], connections: number): Promise<() => Promise<Side>> => {
    const cpu0 = await s.cpuUs();
    const res = await gen.run(s.url, connections, SECONDS);
    if (res.error) throw new Error(`load generator: ${res.error}`);
    return async () => ({ rps: res.total / res.seconds, p50: res.p50, p99: res.p99, cpuUs: ((await s.cpuUs()) - cpu0) / Math.max(1, res.total), bad: res.bad });
  };
  const random = seeded(1);
  for (let i = 0; i < INSTANCES; i++) {
    for (const [name, kind] of shuffle(PAIRED, random)) {
      const floor = await startRouteServer('bare', cfg, 'http');
      const route = await startRouteServer(kind, cfg, 'http');
      // Warm-up: a route process serves its first few thousand requests several times slower than it will for the
      // rest of its life (V8 is still compiling it: the bare route's CPU per request falls from about 1.2 ms to
      // 0.6 ms here), and a route with more code takes longer to get there. Throughput is what a server sustains,
      // so both processes serve WARM_REQUESTS first, at once, in blocks whose CPU per request the results show
      // (first block, last block: the plateau). Before they are pinned, so the warm-up uses both cores.
      pin([], [...gens.map((g) => g.pid), up.pid]);
      for (let sent = 0, k = 0; sent < WARM_REQUESTS; sent += WARM_BLOCK, k++) {
        const n = Math.min(WARM_BLOCK, WARM_REQUESTS - sent);
        const cpu0 = await route.cpuUs();
        const [f, r] = await Promise.all([gens[0].send(floor.url, 50, n), gens[1].send(route.url, 50, n)]);
        if (r.error || r.bad > 0 || f.error || f.bad > 0) throw new Error(`warm-up of ${name}: ${r.error ?? f.error ?? `${r.bad + f.bad} bad responses`}`);
        const us = ((await route.cpuUs()) - cpu0) / Math.max(1, r.total);
        const w = (warm[name] ??= { first: [], last: [] });
        if (k === 0) w.first.push(us);
        if (sent + n >= WARM_REQUESTS) w.last.push(us);
      }
      pinNote = pin([floor.pid, route.pid], [...gens.map((g) => g.pid), up.pid]);
      await Promise.all([gens[0].run(floor.url, 1, 1), gens[1].run(route.url, 1, 1)]); // pinned now: one unmeasured block
      for (let b = 0; b < BLOCKS; b++) {
        up.resetRequests(); // the fake provider logs every request it serves; keep its heap (and GC pauses) flat
        const [gFloor, gRoute] = b % 2 === 0 ? gens : [gens[1], gens[0]];
        for (const connections of b % 2 === 0 ? [1, 50] : [50, 1]) {
          const [floorDone, routeDone] = await Promise.all([side(floor, gFloor, connections), side(route, gRoute, connections)]);
          blocks.push({ name, i, connections, floor: await floorDone(), route: await routeDone() });
        }
      }
      // 3b. The same warmed, pinned pair, each side loaded alone in turn: A B B A (B A A B in every other set), at
      // each connection count, so a drift of the machine that is linear over a set charges both sides alike.
      for (let s = 0; s < ALONE_SETS; s++) {
        up.resetRequests();
        for (const connections of s % 2 === 0 ? [1, 50] : [50, 1]) {
          const order = s % 2 === 0 ? [floor, route, route, floor] : [route, floor, floor, route];
          const got: Side[][] = [[], []];
          for (const srv of order) got[srv === floor ? 0 : 1].push(await (await side(srv, gens[0], connections))());
          aloneSets.push({ name, i, connections, floor: meanSide(got[0]), route: meanSide(got[1]) });
        }
      }
      await floor.close();
      await route.close();
    }
  }
  out.push(
    `## 3. Over HTTP, in simultaneous pairs (the Koa route of each strategy and a bare-SDK twin, each alone in its own server process, ${INSTANCES} pairs per strategy; one pair at a time, in a shuffled order of strategies for each i of ${INSTANCES}: started, warmed, pinned, then ${BLOCKS} blocks of ${SECONDS} s at 1 and at 50 connections per side, alternating, both sides loaded at the same time, one persistent autocannon each, then closed; ${pinNote}; CPU = each server process per request)`,
    '',
    `Before anything is measured, both processes of a pair serve ${WARM_REQUESTS} requests (50 connections, both at once, cores not yet pinned): a process's first few thousand requests cost several times what it costs for the rest of its life, while V8 compiles it, and a route with more code takes longer to get there. A pair is measured right after its warm-up, start to finish: left idle for a minute between blocks, a process spent twice the CPU per request when loaded again. Earlier runs (before 2026-11-25) measured processes that had served a few hundred requests each, and the first warmed run went round all pairs, each idle between its blocks; bench/README.md keeps their history. The route's CPU per request in the first and last block of ${WARM_BLOCK} warm-up requests (median over its processes), µs: ${Object.entries(
      warm,
    )
      .map(([n, w]) => `${n} ${fmt(median(w.first))} → ${fmt(median(w.last))}`)
      .join('; ')}.`,
    '',
    `Both sides of a pair share core 0 at the same moment, so whatever the machine does during a block, both live through it; the ratio is how many requests the route served for each one its twin served. req/s are per side, each side having about half of core 0. The control pairs are two bare-SDK routes: their distance from 1.00 is what this rig cannot tell apart. The calibration pairs add a fixed amount of JS work to one side (${WORK_ROUNDS} rounds; its hot cost is its added CPU in section 0b): what the rig charges for a known cost.`,
    '',
  );
  const overHttp: Record<string, unknown> = { design: 'simultaneous pairs, one pair at a time', pinning: pinNote, instances: INSTANCES, blocksPerPair: BLOCKS, seconds: SECONDS, warmRequests: WARM_REQUESTS, warmCpuUs: warm };
  for (const connections of [1, 50]) {
    overHttp[`c${connections}`] = httpSection(blocks, connections, out, `### ${connections} connection${connections === 1 ? '' : 's'} per side`, 'per-block ratios');
  }
  json.http = overHttp;
  if (ALONE_SETS > 0) {
    out.push(
      `## 3b. Over HTTP, each route alone (the same warmed, pinned pairs as section 3, right after its blocks: ${ALONE_SETS} sets per pair and connection count of four ${SECONDS} s blocks, A B B A or B A A B, only one side loaded at a time, so the loaded route has core 0 to itself; one autocannon)`,
      '',
      'Blocks alternate and ratios are medians. Each route runs as an app\'s server does, without a twin on its core. Nothing but the order of the blocks cancels the drift of the machine here, so single sets spread more than section 3\'s blocks; a set\'s ratio is the route\'s mean req/s over its two blocks divided by its twin\'s over theirs. At 50 connections each side keeps core 0 busy, so its throughput is the inverse of its CPU per request wherever the machine lets it run.',
      '',
    );
    const alone: Record<string, unknown> = { design: 'each side alone, A B B A sets', sets: ALONE_SETS, seconds: SECONDS };
    for (const connections of [1, 50]) {
      alone[`c${connections}`] = httpSection(aloneSets, connections, out, `### ${connections} connection${connections === 1 ? '' : 's'}`, 'per-set ratios');
    }
    json.httpAlone = alone;
  }
  out.push(
    'Not measured by this rig: an out-of-process gateway (Portkey\'s open-source gateway) adds 1.3–1.8 ms of wall time per request on a 2-core machine of this kind, a network hop none of the in-process strategies above has.',
    '',
  );

  for (const g of gens) await g.close();
  await engine.close();
  await cached.close();
  await transport.close();
  await up.close();
  const dir = path.join(__dirname, 'results');
  writeFileSync(path.join(dir, 'overhead.md'), out.join('\n'));
  writeFileSync(path.join(dir, 'overhead.json'), JSON.stringify(json, null, 2));
  console.log(out.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
