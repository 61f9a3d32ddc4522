/**
 * The chaos soak: the demo app under autocannon load, with a three-model chain whose first two models
 * randomly error, hang, reset connections, answer 429, return malformed JSON, empty or truncated answers,
 * and whose third is healthy. Checks the promises a resilience layer must keep under chaos.
 */
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { createDemoApp } from '../../demo-app/app';
import { llmResilience } from '../../lib';
import { startFakeLlm, type FakeMode } from '../../lib/testing';

export interface SoakOptions {
  durationS: number;
  connections: number;
  /** Allowed heap growth after GC between warm-up and close, in MB. */
  heapBoundMb: number;
}

export interface SoakSummary {
  durationS: number;
  connections: number;
  requests: number;
  rps: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  socketErrors: number;
  timeouts: number;
  fallbacks: number;
  breakerOpens: number;
  cacheHits: number;
  maxAttemptsPerRequest: number;
  chainLength: number;
  unhandledRejections: number;
  uncaughtExceptions: number;
  heapBeforeMb: number | null;
  heapAfterMb: number | null;
  heapBoundMb: number;
  openHandlesAfterClose: string[];
  failures: string[];
  passed: boolean;
}

const CHAOS: FakeMode[] = ['error', 'hang', 'reset', 'rate_limit', 'malformed', 'truncated', 'empty'];
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function heapAfterGc(): number | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return null;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export async function runSoak(opts: SoakOptions): Promise<SoakSummary> {
  let unhandledRejections = 0;
  let uncaughtExceptions = 0;
  const onRejection = (): void => void unhandledRejections++;
  const onException = (): void => void uncaughtExceptions++;
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  const baselineHandles = new Set(process.getActiveResourcesInfo());

  const fake = await startFakeLlm({ behaviors: { '*': { latencyMs: 15, jitterMs: 10 } } });
  const chaos = (): void => {
    for (const model of ['chaos-1', 'chaos-2']) fake.setBehavior(model, { mode: pick(CHAOS), failRate: 0.5, latencyMs: 10, jitterMs: 20, retryAfterS: 0.2 });
  };
  chaos();
  const chaosTimer = setInterval(chaos, 300);

  const chainLength = 3;
  const llm = llmResilience({
    models: [
      { name: 'chaos-1', model: 'chaos-1', baseURL: fake.url, apiKey: 'soak', timeoutMs: 150 },
      { name: 'chaos-2', model: 'chaos-2', baseURL: fake.url, apiKey: 'soak', timeoutMs: 150 },
      { name: 'healthy', model: 'healthy', baseURL: fake.url, apiKey: 'soak', timeoutMs: 3000 },
    ],
    breaker: { volumeThreshold: 10, resetTimeoutMs: 1000, rollingWindowMs: 2000 },
    cache: { max: 200, ttlMs: 5000 },
  });
  let maxAttempts = 0;
  let fallbacks = 0;
  let breakerOpens = 0;
  let cacheHits = 0;
  llm.on('attempt', (a) => {
    if (a.index + 1 > maxAttempts) maxAttempts = a.index + 1;
  });
  llm.on('fallback', () => void fallbacks++);
  llm.on('breaker:open', () => void breakerOpens++);
  llm.on('cache:hit', () => void cacheHits++);

  const app = createDemoApp(llm);
  app.silent = true;
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const load = (durationS: number) =>
    autocannon({
      url,
      connections: opts.connections,
      duration: durationS,
      timeout: 20,
      idReplacement: true,
      requests: [
        { method: 'POST', path: '/summarize', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'unique report [<id>]' }) },
        { method: 'POST', path: '/summarize', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'the popular report' }) },
        { method: 'POST', path: '/chat', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'chat [<id>]' }] }) },
      ],
    });

  await load(1); // warm-up: JIT, pools, breaker windows
  // The fake provider runs in this process only for convenience, and it records every request it serves (for
  // tests that count them): its log is not the app's heap, so it is emptied before each measurement.
  fake.resetRequests();
  const heapBefore = heapAfterGc();
  const result = await load(opts.durationS);

  clearInterval(chaosTimer);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await llm.close();
  await fake.close();
  await new Promise((r) => setTimeout(r, 50));
  fake.resetRequests();
  const heapAfter = heapAfterGc();
  const openHandlesAfterClose = process.getActiveResourcesInfo().filter((h) => !baselineHandles.has(h));
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);

  const status5xx = result['5xx'];
  const failures: string[] = [];
  if (status5xx > 0) failures.push(`${status5xx} responses were 5xx`);
  if (result['4xx'] > 0) failures.push(`${result['4xx']} responses were 4xx`);
  if (result.errors > 0) failures.push(`${result.errors} socket errors`);
  if (result.timeouts > 0) failures.push(`${result.timeouts} client timeouts`);
  // each model is tried once, plus at most one same-model retry of a transient failure (`retry.maxRetries`)
  if (maxAttempts > 2 * chainLength) failures.push(`a request made ${maxAttempts} attempts (> twice the chain length ${chainLength})`);
  if (unhandledRejections > 0) failures.push(`${unhandledRejections} unhandled rejections`);
  if (uncaughtExceptions > 0) failures.push(`${uncaughtExceptions} uncaught exceptions`);
  if (heapBefore !== null && heapAfter !== null && mb(heapAfter - heapBefore) > opts.heapBoundMb) {
    failures.push(`heap grew ${mb(heapAfter - heapBefore)} MB (bound ${opts.heapBoundMb} MB)`);
  }
  if (openHandlesAfterClose.length > 0) failures.push(`open handles after close(): ${openHandlesAfterClose.join(', ')}`);
  if (result.requests.total === 0) failures.push('no request completed');

  return {
    durationS: opts.durationS,
    connections: opts.connections,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    status2xx: result['2xx'],
    status4xx: result['4xx'],
    status5xx,
    socketErrors: result.errors,
    timeouts: result.timeouts,
    fallbacks,
    breakerOpens,
    cacheHits,
    maxAttemptsPerRequest: maxAttempts,
    chainLength,
    unhandledRejections,
    uncaughtExceptions,
    heapBeforeMb: heapBefore === null ? null : mb(heapBefore),
    heapAfterMb: heapAfter === null ? null : mb(heapAfter),
    heapBoundMb: opts.heapBoundMb,
    openHandlesAfterClose,
    failures,
    passed: failures.length === 0,
  };
}
