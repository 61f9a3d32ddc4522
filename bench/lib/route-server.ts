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
import { aiSdk, bareSdk, bareSdkOnTransport, chatApp, langchain, ours, type Strategy, type StrategyConfig } from './strategies';
import { inMemoryRequest, STUB_URL, stubFetch } from './stub';

export type RouteKind = 'bare' | 'bare-transport' | 'ours' | 'langchain' | 'ai-sdk' | 'calibration';
export type RouteMode = 'http' | 'stub';

/** How the benches' tables name each route. */
export const ROUTE_LABELS: Record<RouteKind, string> = {
  bare: 'bare openai SDK (maxRetries 0, logLevel off)',
  'bare-transport': "bare openai SDK on the library's transport (undici request)",
  ours: 'koa-llm-resilience (cache off)',
  langchain: 'LangChain.js withFallbacks',
  'ai-sdk': 'AI SDK + ai-fallback',
  calibration: 'calibration: bare route + fixed JS work',
};

/**
 * The calibration route's extra work: the kind a library does per request (small objects, Map updates, one
 * awaited promise per round), a fixed amount of it. Section 0b measures what it costs hot; section 3 shows
 * what the HTTP rig charges for that known cost, in the same run.
 */
const workState = new Map<string, { n: number; at: number }>();
async function fixedWork(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const key = `k${i & 15}`;
    const rec = workState.get(key) ?? { n: 0, at: 0 };
    workState.set(key, { n: rec.n + 1, at: performance.now() });
    await Promise.resolve(key);
  }
}

const make: Record<RouteKind, (c: StrategyConfig) => Strategy> = {
  bare: bareSdk,
  'bare-transport': bareSdkOnTransport,
  ours: (c) => ours(c, 'ours', { cache: false }),
  langchain: (c) => langchain(c, false),
  'ai-sdk': aiSdk,
  calibration: (c) => {
    const bare = bareSdk(c);
    const rounds = c.workRounds ?? 60;
    return { ...bare, name: ROUTE_LABELS.calibration, call: (ctx, text) => fixedWork(rounds).then(() => bare.call(ctx, text)) };
  },
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
