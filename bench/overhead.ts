/**
 * npm run bench:overhead — what the library adds over the bare openai SDK, beside the peers users would
 * pick instead, in one interleaved run against a fake provider (own process) that answers instantly.
 *   0. pure CPU: every variant with the same stub `fetch` (no network), so only SDK + library work is measured
 *   1. in process: engine.complete() (cache off) vs the bare SDK (and LangChain / AI SDK), concurrency 1 and 50
 *   2. a cache hit
 *   3. over HTTP: the same Koa route shape, loaded by autocannon (own process), concurrency 1 and 50
 * Run with --expose-gc (npm run bench:overhead does): each block starts from a collected heap.
 * Options: --rounds N (default 5), --calls N per in-process block (default 2000), --seconds N per HTTP block
 * (default 2), --http-rounds N (default 10). Ratios and added costs are medians of per-round pairs.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
import { createFallback } from 'ai-fallback';
import OpenAI from 'openai';
import { createEngine } from '../lib';
import { argValue, fmt, machine, median, summarize, table } from './lib/stats';
import { aiSdk, bareSdk, chatApp, langchain, ours, serve, type StrategyConfig } from './lib/strategies';
import { startUpstream } from './lib/upstream';
import { autocannon, pinning } from './lib/load';

const ROUNDS = Number(argValue('rounds', '5'));
const CALLS = Number(argValue('calls', '2000'));
const SECONDS = Number(argValue('seconds', '2'));
const HTTP_ROUNDS = Number(argValue('http-rounds', '10'));
const KEY = 'bench-key';
const FLOOR = 'bare openai SDK (maxRetries 0, logLevel off)';
const msgs = [{ role: 'user' as const, content: 'Summarize: the quick brown fox jumps over the lazy dog.' }];

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

const chatBody = JSON.stringify({ text: 'hello' });

/** One POST /chat through a Koa callback with an in-memory request and response (no socket, no parser). */
async function inMemoryRequest(handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<void> {
  const req = new http.IncomingMessage(new net.Socket());
  req.method = 'POST';
  req.url = '/chat';
  req.headers = { 'content-type': 'application/json', 'content-length': String(chatBody.length) };
  req.push(chatBody);
  req.push(null);
  const res = new http.ServerResponse(req);
  await handle(req, res);
  if (res.statusCode !== 200) throw new Error(`route answered ${res.statusCode}`);
}

async function main(): Promise<void> {
  const up = await startUpstream();
  const cfg: StrategyConfig = { url: up.url, primary: 'primary', fallback: 'fallback', timeoutMs: 2000, resetMs: 60_000 };
  const out: string[] = [`# Overhead benchmark`, '', `Machine: ${machine()}  `, `Run: ${new Date().toISOString()}. Variants interleaved A B C D A B C D …, each block from a collected heap; ratios and added costs are medians of per-round pairs with the floor.`, ''];
  const json: Record<string, unknown> = { machine: machine(), date: new Date().toISOString() };

  // 0. Pure CPU, no network: the same stub fetch under every variant.
  const stubBody = JSON.stringify({
    id: 'chatcmpl-stub',
    object: 'chat.completion',
    created: 0,
    model: 'primary',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 },
  });
  const stubFetch = (async () => new Response(stubBody, { headers: { 'content-type': 'application/json' } })) as typeof fetch;
  const stubUrl = 'http://stub.invalid/v1';
  const stubClient = new OpenAI({ baseURL: stubUrl, apiKey: KEY, maxRetries: 0, logLevel: 'off', fetch: stubFetch });
  const stubEngine = createEngine({
    models: [
      { name: 'primary', model: 'primary', baseURL: stubUrl, apiKey: KEY },
      { name: 'fallback', model: 'fallback', baseURL: stubUrl, apiKey: KEY },
    ],
    cache: false,
    fetch: stubFetch,
  });
  const stubLc = new ChatOpenAI({ model: 'primary', apiKey: KEY, maxRetries: 0, configuration: { baseURL: stubUrl, fetch: stubFetch } }).withFallbacks([
    new ChatOpenAI({ model: 'fallback', apiKey: KEY, maxRetries: 0, configuration: { baseURL: stubUrl, fetch: stubFetch } }),
  ]);
  const stubOa = createOpenAI({ baseURL: stubUrl, apiKey: KEY, fetch: stubFetch });
  const stubAi = createFallback({ models: [stubOa.chat('primary'), stubOa.chat('fallback')] });
  const stubVariants: [string, Fn][] = [
    [FLOOR, () => stubClient.chat.completions.create({ model: 'primary', messages: msgs })],
    ['koa-llm-resilience engine.complete (cache off)', () => stubEngine.complete({ messages: msgs })],
    ['LangChain.js withFallbacks', () => stubLc.invoke(msgs)],
    ['AI SDK + ai-fallback', () => generateText({ model: stubAi, messages: msgs, maxRetries: 0 })],
  ];
  {
    const per: Record<string, Block[]> = Object.fromEntries(stubVariants.map(([n]) => [n, []]));
    for (const [, fn] of stubVariants) await block(fn, 5000, 1); // warm-up
    for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of stubVariants) per[name].push(await block(fn, 10_000, 1));
    const m = Object.fromEntries(Object.entries(per).map(([n, b]) => [n, medians(b)]));
    json.pureCpu = m;
    const base = m[FLOOR];
    out.push('## 0. Pure CPU per call: the same stub `fetch` under every variant (no network, concurrency 1)', '');
    out.push('The most precise figure of what each layer costs: no socket, no other process, only SDK and library code.', '');
    out.push(
      table(
        ['variant', 'CPU µs/call', 'added CPU µs/call', 'p50 µs', 'p99 µs', 'calls/s', 'ratio vs bare'],
        Object.entries(m).map(([n, b]) => [n, fmt(b.cpuUs, 1), fmt(b.cpuUs - base.cpuUs, 1), fmt(b.p50, 1), fmt(b.p99, 1), fmt(b.perSec), fmt(b.perSec / base.perSec, 2)]),
      ),
      '',
    );
    await stubEngine.close();
  }

  // 0b. The whole Koa route (body parsing, middleware, the call, the JSON response), still without a socket.
  {
    const stubCfg: StrategyConfig = { url: stubUrl, primary: 'primary', fallback: 'fallback', timeoutMs: 2000, resetMs: 60_000, fetch: stubFetch };
    const strategies = [
      [FLOOR, bareSdk(stubCfg)],
      ['koa-llm-resilience (cache off)', ours(stubCfg, 'ours', { cache: false })],
      ['LangChain.js withFallbacks', langchain(stubCfg, false)],
      ['AI SDK + ai-fallback', aiSdk(stubCfg)],
    ] as const;
    const routes: [string, Fn][] = strategies.map(([name, st]) => {
      const handle = chatApp(st).callback();
      return [name, () => inMemoryRequest(handle)];
    });
    const per: Record<string, Block[]> = Object.fromEntries(routes.map(([n]) => [n, []]));
    for (const [, fn] of routes) await block(fn, 3000, 1); // warm-up (and a check that every route answers 200)
    for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of r % 2 === 0 ? routes : [...routes].reverse()) per[name].push(await block(fn, 5000, 1));
    const m = Object.fromEntries(Object.entries(per).map(([n, b]) => [n, medians(b)]));
    json.pureCpuRoute = m;
    out.push('## 0b. Pure CPU per request of the whole Koa route (the same stub `fetch`; Koa driven with in-memory requests, no socket)', '');
    out.push(
      table(
        ['route', 'CPU µs/req', 'added CPU µs/req', 'p50 µs', 'p99 µs'],
        Object.entries(m).map(([n, b]) => [n, fmt(b.cpuUs, 1), fmt(paired(per[n], per[FLOOR], (x, f) => x.cpuUs - f.cpuUs), 1), fmt(b.p50, 1), fmt(b.p99, 1)]),
      ),
      '',
    );
    for (const [, st] of strategies) await st.close();
  }

  // 1. In process, on loopback.
  const client = new OpenAI({ baseURL: up.url, apiKey: KEY, maxRetries: 0, logLevel: 'off' });
  const defaultClient = new OpenAI({ baseURL: up.url, apiKey: KEY, maxRetries: 0 });
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
    ['koa-llm-resilience engine.complete (cache off)', () => engine.complete({ messages: msgs, cache: false })],
    ['LangChain.js withFallbacks', () => lc.invoke(msgs)],
    ['AI SDK + ai-fallback', () => generateText({ model: aiModel, messages: msgs, maxRetries: 0 })],
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

  // 3. Over HTTP.
  const servers = [
    [FLOOR, await serve(bareSdk(cfg))],
    ['koa-llm-resilience (cache off)', await serve(ours(cfg, 'ours', { cache: false }))],
    ['LangChain.js withFallbacks', await serve(langchain(cfg, false))],
    ['AI SDK + ai-fallback', await serve(aiSdk(cfg))],
  ] as const;
  const pin = pinning(up.pid);
  out.push(
    `## 3. Over HTTP (Koa route, autocannon in its own process, ${SECONDS} s blocks, ${HTTP_ROUNDS} rounds in A B C D / D C B A order; ${pin.note}; CPU = the server process per request)`,
    '',
  );
  const http: Record<string, unknown> = { pinning: pin.note };
  for (const connections of [1, 50]) {
    const per: Record<string, { rps: number; p50: number; p99: number; cpuUs: number; bad: number }[]> = {};
    for (const [, s] of servers) await autocannon(s.url, connections, 3, pin.prefix); // warm-up (JIT, pools)
    for (let r = 0; r < HTTP_ROUNDS; r++) {
      // every other round in reverse, so a drift of the machine's speed does not favour whoever runs first
      for (const [name, s] of r % 2 === 0 ? servers : [...servers].reverse()) {
        await cleanHeap();
        const cpu0 = process.cpuUsage();
        const res = await autocannon(s.url, connections, SECONDS, pin.prefix);
        const cpu = process.cpuUsage(cpu0);
        (per[name] ??= []).push({
          rps: res.requests.average,
          p50: res.latency.p50,
          p99: res.latency.p99,
          cpuUs: (cpu.user + cpu.system) / Math.max(1, res.requests.total),
          bad: res.non2xx + res.errors,
        });
      }
    }
    const m = Object.fromEntries(
      Object.entries(per).map(([n, bs]) => [
        n,
        {
          rps: median(bs.map((b) => b.rps)),
          ratio: paired(bs, per[FLOOR], (x, f) => x.rps / f.rps),
          ratioIqr: quartiles(bs.map((x, i) => x.rps / per[FLOOR][i].rps)),
          rounds: bs.map((x) => Math.round(x.rps)),
          p50: median(bs.map((b) => b.p50)),
          p99: median(bs.map((b) => b.p99)),
          cpuUs: median(bs.map((b) => b.cpuUs)),
          addedCpuUs: paired(bs, per[FLOOR], (x, f) => x.cpuUs - f.cpuUs),
          bad: bs.reduce((a, b) => a + b.bad, 0),
        },
      ]),
    );
    http[`c${connections}`] = m;
    out.push(`### ${connections} connection${connections === 1 ? '' : 's'}`, '');
    out.push(
      table(
        ['route', 'req/s', 'throughput vs bare', 'middle half of the per-round ratios', 'p50 ms', 'p99 ms', 'CPU µs/req', 'added CPU µs/req', 'non-2xx + errors'],
        Object.entries(m).map(([n, b]) => [n, fmt(b.rps), fmt(b.ratio, 2), `${fmt(b.ratioIqr[0], 2)}–${fmt(b.ratioIqr[1], 2)}`, fmt(b.p50, 2), fmt(b.p99, 2), fmt(b.cpuUs), fmt(b.addedCpuUs), b.bad]),
      ),
      '',
    );
  }
  json.http = http;
  out.push(
    'Reference (../shared/BENCHMARKS.md, same kind of machine): LangChain.js withFallbacks ≈ +325 µs CPU/request (0.71 of the bare route), AI SDK + ai-fallback ≈ +393 µs (0.73); an out-of-process gateway (Portkey) adds 1.3–1.8 ms of wall time per request.',
    '',
  );

  for (const [, s] of servers) await s.close();
  await engine.close();
  await cached.close();
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
