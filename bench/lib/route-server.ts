/**
 * Child process: one strategy's Koa route (`chatApp`), as an app would run it — alone in its process, so no
 * strategy shares a heap, a JIT profile or an event loop with another.
 *  - mode `http`: on a loopback port (bench:overhead loads it beside a bare-SDK twin; bench:instructions alone);
 *  - mode `stub`: no socket at all: the stub `fetch`, and in-memory requests run in blocks on request.
 * IPC: `{ type: 'cpu', id }` → `{ id, us }` (user + system µs so far);
 * `{ type: 'block', id, n }` (stub mode) → `{ id, us, ms }` for n sequential requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { aiSdk, bareSdk, chatApp, langchain, ours, type Strategy, type StrategyConfig } from './strategies';
import { inMemoryRequest, STUB_URL, stubFetch } from './stub';

export type RouteKind = 'bare' | 'ours' | 'langchain' | 'ai-sdk';
export type RouteMode = 'http' | 'stub';

/** How the benches' tables name each route. */
export const ROUTE_LABELS: Record<RouteKind, string> = {
  bare: 'bare openai SDK (maxRetries 0, logLevel off)',
  ours: 'koa-llm-resilience (cache off)',
  langchain: 'LangChain.js withFallbacks',
  'ai-sdk': 'AI SDK + ai-fallback',
};

const make: Record<RouteKind, (c: StrategyConfig) => Strategy> = {
  bare: bareSdk,
  ours: (c) => ours(c, 'ours', { cache: false }),
  langchain: (c) => langchain(c, false),
  'ai-sdk': aiSdk,
};

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function block(handle: ReturnType<ReturnType<typeof chatApp>['callback']>, n: number): Promise<{ us: number; ms: number }> {
  const cpu0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await inMemoryRequest(handle);
  return { us: cpuNow() - cpu0, ms: performance.now() - t0 };
}

function main(): void {
  const kind = process.argv[2] as RouteKind;
  const mode = process.argv[4] as RouteMode;
  const given = JSON.parse(process.argv[3]) as StrategyConfig;
  const cfg: StrategyConfig = mode === 'stub' ? { ...given, url: STUB_URL, fetch: stubFetch } : given;
  const strategy = make[kind](cfg);
  const handle = chatApp(strategy).callback();
  let server: http.Server | undefined;
  if (mode === 'http') {
    server = http.createServer(handle);
    server.keepAliveTimeout = 10_000;
    server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', url: `http://127.0.0.1:${(server?.address() as AddressInfo).port}` }));
  } else {
    process.send?.({ type: 'ready', url: '' });
  }
  process.on('message', (m: { type: string; id: number; n?: number }) => {
    if (m.type === 'cpu') process.send?.({ id: m.id, us: cpuNow() });
    if (m.type === 'block') void block(handle, m.n ?? 1).then((r) => process.send?.({ id: m.id, ...r }));
  });
  process.on('disconnect', () => {
    const done = () => void strategy.close().then(() => process.exit(0));
    if (!server) return done();
    server.closeAllConnections();
    server.close(done);
  });
}

if (require.main === module) main();
