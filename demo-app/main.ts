/**
 * `npm run demo`: the demo app on the built-in fake provider, with a chain across provider families (Claude
 * through the Messages API, an OpenAI model, Gemini), whose "smart" model goes through the simulated incident
 * (600 ms, then 12 s per answer) every minute while the others stay healthy. With ANTHROPIC_API_KEY,
 * OPENAI_API_KEY and/or GEMINI_API_KEY set, it uses real models of those providers instead.
 */
import type { AddressInfo } from 'node:net';
import { llmResilience, type ModelConfig } from '../lib';
import { startFakeLlm, type FakeLlm } from '../lib/testing';
import { createDemoApp } from './app';

const SLOW_EVERY_MS = 60_000;
const SLOW_FOR_MS = 25_000;

async function main(): Promise<void> {
  const env = process.env;
  const real = Boolean(env.OPENAI_API_KEY || env.ANTHROPIC_API_KEY || env.GEMINI_API_KEY || env.GOOGLE_API_KEY);
  let fake: FakeLlm | undefined;
  let models: ModelConfig[];
  if (real) {
    // the providers whose keys are set, heavy first: Claude, then OpenAI's, then Gemini's fast model
    models = [
      ...(env.ANTHROPIC_API_KEY ? [{ name: 'smart', provider: 'anthropic' as const, model: env.DEMO_CLAUDE_MODEL ?? 'claude-sonnet-4-5', timeoutMs: 8000 }] : []),
      ...(env.OPENAI_API_KEY
        ? [
            { name: env.ANTHROPIC_API_KEY ? 'gpt' : 'smart', model: env.DEMO_SMART_MODEL ?? 'gpt-4o', timeoutMs: 8000 },
            { name: 'gpt-mini', model: env.DEMO_FAST_MODEL ?? 'gpt-4o-mini', timeoutMs: 4000 },
          ]
        : []),
      ...(env.GEMINI_API_KEY || env.GOOGLE_API_KEY ? [{ name: 'fast', provider: 'gemini' as const, model: env.DEMO_GEMINI_MODEL ?? 'gemini-2.5-flash', timeoutMs: 4000 }] : []),
    ];
  } else {
    fake = await startFakeLlm({
      behaviors: {
        'demo-smart': { latencyMs: 600, jitterMs: 100 },
        'demo-gpt': { latencyMs: 300, jitterMs: 60 },
        'demo-fast': { latencyMs: 120, jitterMs: 40 },
      },
      // the demo may run for hours (or under a load test): keep its memory flat
      maxRecords: 10_000,
    });
    // a chain that crosses provider families, each through its own SDK and wire format, all on the fake:
    // Claude (Messages API) → an OpenAI model (Chat Completions) → Gemini (generateContent)
    const root = `http://127.0.0.1:${fake.port}`;
    models = [
      { name: 'smart', provider: 'anthropic', model: 'demo-smart', baseURL: root, apiKey: 'fake-key', timeoutMs: 2000 },
      { name: 'gpt', model: 'demo-gpt', baseURL: fake.url, apiKey: 'fake-key', timeoutMs: 1500 },
      { name: 'fast', provider: 'gemini', model: 'demo-fast', baseURL: root, apiKey: 'fake-key', timeoutMs: 1000 },
    ];
  }

  const llm = llmResilience({
    models,
    breaker: { resetTimeoutMs: 10_000, volumeThreshold: 4 },
    cache: { max: 1000, ttlMs: 600_000 },
    // Learn each model's latency per task: once 20 answers are in, an attempt times out at p95 × 1.5.
    adaptiveTimeout: { minSamples: 20 },
  });
  const t0 = Date.now();
  const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
  llm.on('attempt', (a) => console.log(`${stamp()} attempt  ${a.model.padEnd(5)} ${a.outcome.padEnd(12)} ${String(Math.round(a.latencyMs)).padStart(5)} ms${a.message && a.outcome !== 'success' ? `  (${a.message})` : ''}`));
  llm.on('fallback', (f) => console.log(`${stamp()} fallback ${f.from} -> ${f.to} (${f.reason})`));
  llm.on('breaker:open', (b) => console.log(`${stamp()} breaker  ${b.model} OPEN: skipped until ${new Date(b.halfOpenAt).toISOString()}`));
  llm.on('breaker:half_open', (b) => console.log(`${stamp()} breaker  ${b.model} HALF-OPEN: next call is a probe`));
  llm.on('breaker:close', (b) => console.log(`${stamp()} breaker  ${b.model} CLOSED`));
  llm.on('cache:hit', (h) => console.log(`${stamp()} cache    hit (${h.latencyMs} ms)`));
  llm.on('cooldown', (c) => console.log(`${stamp()} 429      ${c.model} cooling down for ${c.ms} ms: skipped without a call until then`));
  let lastTimeouts = '';

  const app = createDemoApp(llm);
  app.on('error', (err: Error) => console.error(`${stamp()} error    ${err.message}`));
  const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const timers: NodeJS.Timeout[] = [];
  // Log the adaptive timeouts when they change.
  timers.push(setInterval(() => {
    const now = llm
      .status()
      .models.map((m) => `${m.name} ${m.timeoutMs} ms${m.latency.summarize?.p95 ? ` (summarize p95 ${Math.round(m.latency.summarize.p95)} ms)` : ''}`)
      .join(', ');
    if (now !== lastTimeouts) console.log(`${stamp()} timeouts ${now}`);
    lastTimeouts = now;
  }, 5000));
  if (fake) {
    const f = fake;
    // A simulated incident: every minute the smart model goes from ~600 ms to ~12 s for 25 s.
    const slow = (): void => {
      console.log(`${stamp()} incident smart model now answers in ~12 s`);
      f.setBehavior('demo-smart', { latencyMs: 12_000, jitterMs: 500 });
      timers.push(setTimeout(() => {
        console.log(`${stamp()} incident smart model back to ~600 ms`);
        f.setBehavior('demo-smart', { latencyMs: 600, jitterMs: 100 });
      }, SLOW_FOR_MS));
    };
    timers.push(setTimeout(() => {
      slow();
      timers.push(setInterval(slow, SLOW_EVERY_MS));
    }, 30_000));
    // A rate-limit burst 10 s after each slow-down ends: 429 with retry-after 5 s.
    const rateLimit = (): void => {
      console.log(`${stamp()} incident fast model answers 429 (retry-after 5 s) for 3 s`);
      f.setBehavior('demo-fast', { mode: 'rate_limit', retryAfterS: 5 });
      timers.push(setTimeout(() => f.setBehavior('demo-fast', { latencyMs: 120, jitterMs: 40 }), 3000));
    };
    timers.push(setTimeout(() => {
      rateLimit();
      timers.push(setInterval(rateLimit, SLOW_EVERY_MS));
    }, 30_000 + SLOW_FOR_MS + 10_000));
    if (process.env.DEMO_TRAFFIC !== '0') {
      // Light background traffic (distinct prompts, so the cache does not hide the incident).
      let n = 0;
      timers.push(setInterval(() => {
        n++;
        fetch(`${url}/summarize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `background report #${n}` }) }).catch(() => undefined);
      }, 1000));
    }
  }

  console.log(`koa-llm-resilience demo on ${url} (${real ? 'real provider' : `fake provider at ${fake?.url}`})`);
  console.log(`  curl -s -X POST ${url}/summarize -H 'content-type: application/json' -d '{"text":"Koa is a small web framework for Node.js."}'`);
  console.log(`  curl -sN -X POST ${url}/chat/stream -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"Hi"}]}'`);
  console.log(`  curl -s ${url}/health            (a streaming chat page: ${url}/ )`);
  console.log(`  dashboard: ${url}/dashboard/${process.env.DEMO_DASHBOARD_TOKEN ? '?token=$DEMO_DASHBOARD_TOKEN' : ''}    metrics: ${url}/metrics`);
  console.log(`  OpenAI-compatible: baseURL ${url}/v1, apiKey ${process.env.DEMO_API_TOKEN ? '$DEMO_API_TOKEN' : 'demo-token-change-me'}, model "default" or "cheap"`);
  if (fake) {
    console.log('  In 30 s the smart model slows to ~12 s for 25 s (then every minute), and 10 s later the fast model');
    console.log('  answers 429 for 3 s: watch timeouts adapt, fallbacks, the breaker and the 429 cool-down below. Ctrl-C stops.');
  }

  const stop = async (): Promise<void> => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await llm.close();
    await fake?.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
