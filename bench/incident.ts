/**
 * npm run bench:incident — a provider incident (answers slowing from 600 ms to 12 s, then failing), replayed 10× faster against every
 * strategy through the same Koa route, at the same open-loop rate, on the same schedule:
 *   primary ~60 ms → ~1.2 s (the 12 s spike) → HTTP 500 → healthy again; fallback ~30 ms.
 * Each strategy gets a fresh fake provider (own process) and a fresh server.
 * Options: --rate N requests/s (default 50), --only "substring" to run some strategies.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { argValue, fmt, machine, percentile, summarize, table } from './lib/stats';
import { aiSdk, langchain, oneEndpoint, ours, sdkRetry, sequentialFallback, serve, type Strategy, type StrategyConfig } from './lib/strategies';
import { latencyChart, type ChartPhase } from './lib/svg-chart';
import { EVERY_OPTION } from './lib/every-option';
import { startUpstream } from './lib/upstream';

const RATE = Number(argValue('rate', '50'));
const ONLY = argValue('only', '');
const TIMEOUT_MS = 200; // 2 s, compressed 10×
const RESET_MS = 6000; // 60 s, compressed 10×

const HEALTHY = { latencyMs: 55, jitterMs: 10 };
const SLOW = { latencyMs: 1150, jitterMs: 100 };
const ERROR = { mode: 'error' as const, status: 500, latencyMs: 15, jitterMs: 10 };
const FALLBACK = { latencyMs: 27, jitterMs: 6 };
const PHASES = [
  { from: 0, to: 5, label: 'healthy', behavior: HEALTHY, color: '#2ca02c' },
  { from: 5, to: 17, label: 'slow (~1.2 s)', behavior: SLOW, color: '#ff7f0e' },
  { from: 17, to: 25, label: 'HTTP 500', behavior: ERROR, color: '#d62728' },
  { from: 25, to: 40, label: 'recovered', behavior: HEALTHY, color: '#2ca02c' },
];
const DURATION_S = 40;
const RECOVERED_AT_S = 25;

type Factory = (c: StrategyConfig) => Strategy;
const STRATEGIES: Factory[] = [
  oneEndpoint,
  sdkRetry,
  sequentialFallback,
  (c) => ours(c, 'koa-llm-resilience, defaults (time-scaled 10×)'),
  (c) => ours(c, 'koa-llm-resilience, every option on', EVERY_OPTION),
  (c) => langchain(c, true),
  aiSdk,
];

interface Sample {
  sentAt: number;
  latency: number;
  ok: boolean;
  model: string;
}

async function runOne(factory: Factory) {
  const up = await startUpstream({ primary: HEALTHY, fallback: FALLBACK });
  const strategy = factory({ url: up.url, primary: 'primary', fallback: 'fallback', timeoutMs: TIMEOUT_MS, resetMs: RESET_MS });
  const server = await serve(strategy);
  // warm the connection pools outside the measured window, then forget those requests
  for (let i = 0; i < 5; i++) await fetch(`${server.url}/chat`, { method: 'POST', body: JSON.stringify({ text: `warm ${i}` }) }).then((r) => r.text());
  up.resetRequests();

  up.schedule(PHASES.map((p) => ({ atMs: p.from * 1000, model: 'primary', behavior: p.behavior })));
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  const total = RATE * DURATION_S;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sentAt = performance.now() - t0;
    pending.push(
      fetch(`${server.url}/chat`, { method: 'POST', body: JSON.stringify({ text: `request ${i}` }), signal: AbortSignal.timeout(30_000) })
        .then(async (res) => {
          const body = (await res.json().catch(() => ({}))) as { model?: string };
          samples.push({ sentAt, latency: performance.now() - t0 - sentAt, ok: res.status === 200, model: body.model ?? '' });
        })
        .catch(() => {
          samples.push({ sentAt, latency: performance.now() - t0 - sentAt, ok: false, model: '' });
        }),
    );
  }
  await Promise.all(pending);
  const stats = await up.stats();
  await server.close();
  await up.close();

  samples.sort((a, b) => a.sentAt - b.sentAt);
  const lat = summarize(samples.map((s) => s.latency));
  const ok = samples.filter((s) => s.ok).length;
  const buckets = Array.from({ length: DURATION_S }, (_, t) => {
    const inB = samples.filter((s) => s.sentAt >= t * 1000 && s.sentAt < (t + 1) * 1000);
    const sorted = inB.map((s) => s.latency).sort((a, b) => a - b);
    return { t, p50: percentile(sorted, 50), p99: percentile(sorted, 99), failed: inB.length ? inB.filter((s) => !s.ok).length / inB.length : 0, primaryShare: inB.filter((s) => s.ok && s.model === 'primary').length / Math.max(1, inB.filter((s) => s.ok).length) };
  });
  const back = buckets.find((b) => b.t >= RECOVERED_AT_S && b.primaryShare >= 0.9);
  return {
    name: strategy.name,
    requests: samples.length,
    success: ok / samples.length,
    latency: lat,
    upstreamPerRequest: stats.total.requests / samples.length,
    aborted: stats.total.aborted,
    backToPrimaryS: back ? back.t - RECOVERED_AT_S : null,
    buckets,
  };
}

async function main(): Promise<void> {
  const results = [];
  for (const f of STRATEGIES) {
    const probe = f({ url: 'http://127.0.0.1:9/v1', primary: 'p', fallback: 'f', timeoutMs: TIMEOUT_MS, resetMs: RESET_MS });
    await probe.close();
    if (ONLY && !probe.name.toLowerCase().includes(ONLY.toLowerCase())) continue;
    process.stderr.write(`running: ${probe.name} …\n`);
    results.push(await runOne(f));
  }
  const rows = results.map((r) => [
    r.name,
    `${fmt(r.success * 100, 1)}%`,
    fmt(r.latency.p50),
    fmt(r.latency.p95),
    fmt(r.latency.p99),
    fmt(r.latency.max),
    fmt(r.upstreamPerRequest, 2),
    r.aborted,
    r.backToPrimaryS === null ? 'not within the run' : `${r.backToPrimaryS} s`,
  ]);
  const md = [
    '# The incident, replayed',
    '',
    `Machine: ${machine()}  `,
    `Run: ${new Date().toISOString()}. Open loop at ${RATE} requests/s for ${DURATION_S} s through the same Koa route (POST /chat, unique prompts).`,
    'Schedule, 10× compressed: primary ~60 ms (0–5 s) → ~1.2 s (5–17 s) → HTTP 500 (17–25 s) → ~60 ms (25–40 s); fallback ~30 ms throughout.',
    `Timeouts where a strategy has one: ${TIMEOUT_MS} ms (2 s compressed); breaker cool-down / ai-fallback modelResetInterval: ${RESET_MS} ms (60 s compressed).`,
    '',
    table(['strategy', 'success', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'upstream calls / request', 'aborted upstream calls', 'back on primary after recovery'], rows),
    '',
    '"Back on primary": seconds from the recovery (25 s) to the first 1-s window in which ≥ 90% of answers came from the primary.',
    '"Aborted upstream calls": requests the provider saw cancelled mid-flight (work paid for and thrown away, or a slow call really cancelled).',
    '',
    '![latency over time](incident.svg)',
    '',
  ].join('\n');
  const dir = path.join(__dirname, 'results');
  writeFileSync(path.join(dir, 'incident.md'), md);
  writeFileSync(path.join(dir, 'incident.json'), JSON.stringify({ machine: machine(), date: new Date().toISOString(), rate: RATE, results }, null, 2));
  const phases: ChartPhase[] = PHASES.map((p) => ({ from: p.from, to: p.to, label: p.label, color: p.color }));
  writeFileSync(path.join(dir, 'incident.svg'), latencyChart(results.map((r) => ({ name: r.name, buckets: r.buckets })), phases, DURATION_S, `Latency per second of send time, ${RATE} req/s, open loop`));
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
