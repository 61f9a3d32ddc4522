/**
 * Redis is never what a request waits for: a request waits at most one store timeout for all its Redis calls,
 * and while Redis is known to be down no request waits on it at all, until a check in the background finds it
 * answering again. Over real sockets: a port with nothing behind it, a TCP server that accepts and never answers,
 * one that answers late, each of which later becomes a proxy to the real Redis at 127.0.0.1:6379.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { sleep, waitFor, watchLoopStalls } from '../../helpers/app';

const TIMEOUT_MS = 150;
/** A request that waited on Redis waited a whole timeout; what stays well under half of one is scheduling noise. */
const NO_WAIT_MS = TIMEOUT_MS / 2;
let fake: FakeLlm;
let engines: LlmEngine[] = [];
let fronts: RedisFront[] = [];
let prefix: string;
let stalls: ReturnType<typeof watchLoopStalls>;
beforeEach(async () => {
  fake = await startFakeLlm();
  prefix = `klr-test-${randomUUID()}:`;
  stalls = watchLoopStalls();
});
afterEach(async () => {
  stalls.stop();
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await Promise.all(fronts.map((f) => f.close()));
  fronts = [];
  await fake.close();
});

function engine(url: string, extra: Partial<LlmResilienceOptions> = {}, timeoutMs = TIMEOUT_MS): LlmEngine {
  const e = createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
    ],
    ...extra,
    // stores are created only when used, so every one of them is closed by close()
    cache: 'cache' in extra ? extra.cache : { store: redisStore({ url, prefix, timeoutMs }), ttlMs: 20_000 },
    shared: redisStore({ url, prefix, timeoutMs }),
  });
  engines.push(e);
  return e;
}
const q = () => ({ messages: [{ role: 'user' as const, content: `question ${randomUUID()}` }], temperature: 0 });

/** How long `e.complete(req)` takes, less the time this process's event loop stood still meanwhile (ms). */
async function timed(e: LlmEngine, req = q()): Promise<number> {
  const t0 = performance.now();
  const r = await e.complete(req);
  const t1 = performance.now();
  expect(r.model).toBe('primary');
  return t1 - t0 - stalls.during(t0, t1);
}

/** What a request costs with no shared store at all, on this machine now (the median of a few). */
async function plainMs(): Promise<number> {
  const e = createEngine({ models: [{ name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 }] });
  engines.push(e);
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) ms.push(await timed(e));
  return ms.sort((a, b) => a - b)[2];
}

/** The added wait of the first request while Redis is away, and the largest of the ten after it. */
async function waits(e: LlmEngine): Promise<{ first: number; next: number }> {
  const base = await plainMs();
  const first = (await timed(e)) - base;
  let next = 0;
  for (let i = 0; i < 10; i++) next = Math.max(next, (await timed(e)) - base);
  return { first, next };
}

/** The shared store serves again: one process's answer reaches another through the real Redis. */
async function expectStoreUsed(e: LlmEngine): Promise<void> {
  const req = q();
  expect((await e.complete(req)).cached).toBe(false);
  const direct = new Redis('redis://127.0.0.1:6379');
  try {
    let keys: string[] = [];
    for (const end = Date.now() + 2000; keys.length === 0 && Date.now() < end; await sleep(10)) keys = await direct.keys(`${prefix}cache:*`);
    expect(keys.length).toBeGreaterThan(0);
  } finally {
    direct.disconnect();
  }
  const other = engine('redis://127.0.0.1:6379');
  const before = fake.stats().requests;
  expect((await other.complete(req)).cached).toBe(true);
  expect(fake.stats().requests).toBe(before);
}

describe('a request waits at most one store timeout because of Redis', () => {
  it('a port with nothing behind it: at most one timeout for the first request, none for the next; used again once Redis is there', async () => {
    const port = await freePort();
    const e = engine(`redis://127.0.0.1:${port}`);
    const { first, next } = await waits(e);
    expect(first).toBeLessThan(TIMEOUT_MS + 50);
    expect(next).toBeLessThan(NO_WAIT_MS);
    expect(e.status().shared).toMatchObject({ status: 'down' });
    // Redis comes up on that port: the store reconnects in the background, with no request needed
    await redisFront('forward', port);
    await waitFor(() => e.status().shared?.status === 'ok', 8000);
    await expectStoreUsed(e);
  });

  it('a Redis that accepts connections and never answers: the same, and a fresh connection once it answers', async () => {
    const front = await redisFront('blackhole');
    const e = engine(`redis://127.0.0.1:${front.port}`);
    const { first, next } = await waits(e);
    expect(first).toBeLessThan(TIMEOUT_MS + 50);
    expect(next).toBeLessThan(NO_WAIT_MS);
    expect(e.status().shared).toMatchObject({ status: 'down' });
    // the same server starts answering (new connections only: the old ones stay silent)
    front.mode = 'forward';
    await waitFor(() => e.status().shared?.status === 'ok', 8000);
    await expectStoreUsed(e);
  });

  it('a Redis that stops answering on a connection that was working: the same, and back after a reconnect', async () => {
    const front = await redisFront('forward');
    const e = engine(`redis://127.0.0.1:${front.port}`);
    await expectStoreUsed(e);
    front.mode = 'blackhole';
    front.silenceOpen(); // what was connected stops answering
    const { first, next } = await waits(e);
    expect(first).toBeLessThan(TIMEOUT_MS + 50);
    expect(next).toBeLessThan(NO_WAIT_MS);
    front.mode = 'forward';
    await waitFor(() => e.status().shared?.status === 'ok', 8000);
    await expectStoreUsed(e);
  });

  it('a Redis that answers late: the lookup and the fill lock of a miss wait one timeout together, not one each', async () => {
    const timeoutMs = 200;
    const front = await redisFront('forward');
    const e = engine(`redis://127.0.0.1:${front.port}`, {}, timeoutMs);
    await expectStoreUsed(e);
    front.delayMs = 140; // each call answered within the timeout, two in a row not
    const base = await plainMs();
    let worst = 0;
    for (let i = 0; i < 4; i++) worst = Math.max(worst, (await timed(e)) - base);
    expect(worst).toBeLessThan(timeoutMs + 30);
    expect(worst).toBeGreaterThan(120); // it did wait for Redis, which answered
    expect(e.status().shared?.status).toBe('ok'); // late is not down
  });

  it('fleet-wide breakers: a half-open probe waits nothing on a Redis known to be down', async () => {
    const front = await redisFront('blackhole');
    const e = engine(`redis://127.0.0.1:${front.port}`, { cache: false, breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 300 } });
    fake.setBehavior('p', { mode: 'error' });
    await e.complete(q());
    await e.complete(q());
    expect(e.status().models[0].state).toBe('open');
    fake.setBehavior('p', {});
    await waitFor(() => e.status().models[0].state === 'half_open', 2000);
    expect(e.status().shared).toMatchObject({ status: 'down' });
    const base = await plainMs();
    const probe = (await timed(e)) - base; // the probe: this process may send it (Redis cannot say otherwise)
    expect(probe).toBeLessThan(NO_WAIT_MS);
    expect(e.status().models[0].state).toBe('closed');
  });
});

describe('closing', () => {
  it('a store that is down leaves no timer behind after close()', async () => {
    const created = new Set<NodeJS.Timeout>();
    const realSetTimeout = global.setTimeout;
    const pause = (ms: number) => new Promise((r) => realSetTimeout(r, ms));
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number, ...args: unknown[]) => {
      const t = realSetTimeout(fn, ms, ...args);
      created.add(t as unknown as NodeJS.Timeout);
      return t;
    }) as typeof setTimeout);
    try {
      const store = redisStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix, timeoutMs: TIMEOUT_MS });
      await store.get('k');
      await pause(500); // down: background checks scheduled and run
      expect(store.health().status).toBe('down');
      await store.close();
      await pause(20);
      const pending = [...created].filter((t) => !(t as unknown as { _destroyed: boolean })._destroyed);
      // (each described by its delay and callback, to tell whose it is)
      expect(pending.map((t) => `${(t as unknown as { _idleTimeout: number })._idleTimeout} ms: ${String((t as unknown as { _onTimeout: unknown })._onTimeout).slice(0, 200)}`)).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});

type Mode = 'forward' | 'blackhole';
interface RedisFront {
  port: number;
  /** For new connections: pass everything to the real Redis, or accept and never answer. */
  mode: Mode;
  /** Delay before passing on what a client sends (ms). */
  delayMs: number;
  /** Connections open now stop passing anything on (a network that drops packets). */
  silenceOpen(): void;
  close(): Promise<void>;
}

/** A TCP server in front of the real Redis on 127.0.0.1:6379. */
async function redisFront(mode: Mode, port = 0): Promise<RedisFront> {
  const sockets = new Set<net.Socket>();
  const silenced = new WeakSet<net.Socket>();
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (front.mode === 'blackhole') return void client.on('data', () => undefined);
    const upstream = net.connect(6379, '127.0.0.1');
    upstream.on('error', () => undefined);
    sockets.add(upstream);
    client.on('data', (d) => {
      if (silenced.has(client)) return;
      if (front.delayMs > 0) setTimeout(() => upstream.write(d), front.delayMs);
      else upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!silenced.has(client)) client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const front: RedisFront = {
    port: (server.address() as net.AddressInfo).port,
    mode,
    delayMs: 0,
    silenceOpen: () => {
      for (const s of sockets) silenced.add(s);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  fronts.push(front);
  return front;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
