/**
 * The shared cache, fleet-wide breakers and cool-downs, and Redis failures, against the real Redis on 127.0.0.1:6379 (CI starts it; these tests fail, not skip, without it),
 * plus a redis-server of our own that is stopped mid-test, and a port with nothing behind it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { sleep, waitFor, watchProcess } from '../../helpers/app';

const REDIS = 'redis://127.0.0.1:6379';
let fake: FakeLlm;
let engines: LlmEngine[] = [];
let prefix: string;
beforeEach(async () => {
  fake = await startFakeLlm();
  prefix = `klr-test-${randomUUID()}:`;
});
afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await fake.close();
});

// A store timeout far above Redis's usual sub-millisecond answer: on a loaded test machine one reply slower than
// 50 ms would mark the store down (by design) and the test would measure the fallback instead of the sharing. The
// tests about a store that is down set their own timeout.
function engine(url: string, extra: Partial<LlmResilienceOptions> = {}, timeoutMs = 1000): LlmEngine {
  const e = createEngine({
    models: [
      { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 500 },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 500 },
    ],
    breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    ...extra,
    // stores are created only when used, so every one of them is closed by close()
    cache: 'cache' in extra ? extra.cache : { store: redisStore({ url, prefix, timeoutMs }), ttlMs: 20_000 },
    shared: redisStore({ url, prefix, timeoutMs }),
  });
  engines.push(e);
  return e;
}
let n = 0;
const q = () => ({ messages: [{ role: 'user' as const, content: `shared question ${++n} ${randomUUID()}` }], temperature: 0 });

describe('shared cache', () => {
  it('a second process gets the first one\'s answer from Redis, with no provider call', async () => {
    const a = engine(REDIS);
    const b = engine(REDIS);
    const req = q();
    const ra = await a.complete(req);
    await sleep(20);
    const rb = await b.complete(req);
    expect(ra.cached).toBe(false);
    expect(rb).toMatchObject({ cached: true, text: ra.text, attempts: [] });
    expect(fake.stats().requests).toBe(1);
    expect(b.status().shared).toMatchObject({ status: 'ok' });
  });

  it('identical misses in two processes call the provider once (Redis lock; the other waits for the answer)', async () => {
    fake.setBehavior('p', { latencyMs: 200 });
    const a = engine(REDIS);
    const b = engine(REDIS);
    const req = q();
    const [ra, rb] = await Promise.all([a.complete(req), sleep(30).then(() => b.complete(req))]);
    expect(fake.stats().requests).toBe(1);
    expect([ra.cached, rb.cached].sort()).toEqual([false, true]);
    expect(rb.text).toBe(ra.text);
  });

  it('a request with a deadline waits for another process\'s answer only until its deadline (not lockWaitMs)', async () => {
    fake.setBehavior('p', { mode: 'hang' });
    const a = engine(REDIS);
    const b = engine(REDIS);
    const req = q();
    const holding = new AbortController();
    const holder = a.complete({ ...req, timeoutMs: 3000, signal: holding.signal }).catch((e: unknown) => e);
    await waitFor(() => fake.stats('p').pending === 1); // a holds the Redis lock for this key
    const t0 = Date.now();
    const err = await b.complete({ ...req, deadlineMs: 200 }).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toMatchObject({ code: 'ALL_MODELS_FAILED' });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(600); // lockWaitMs is 5000 by default
    expect(fake.stats('p').requests).toBe(1); // b never asked the provider itself
    holding.abort();
    expect(await holder).toMatchObject({ code: 'REQUEST_ABORTED' });
  });

  it('an answer another process shared must still pass this request\'s own validate hook', async () => {
    fake.setBehavior('p', { latencyMs: 200 });
    const a = engine(REDIS);
    const b = engine(REDIS);
    const req = q();
    const ra = a.complete(req);
    await sleep(30);
    const rb = await b.complete({ ...req, validate: (r) => r.model !== 'primary' });
    expect(rb).toMatchObject({ model: 'backup', cached: false });
    expect(rb.attempts.map((x) => [x.model, x.outcome])).toEqual([
      ['primary', 'invalid'],
      ['backup', 'success'],
    ]);
    expect(await ra).toMatchObject({ model: 'primary', cached: false });
  });

  it('a value that does not parse is a miss and is deleted', async () => {
    const a = engine(REDIS);
    const req = q();
    await a.complete(req);
    const redis = new Redis(REDIS);
    try {
      await sleep(20);
      const keys = await redis.keys(`${prefix}cache:*`);
      expect(keys).toHaveLength(1);
      const pttl = await redis.pttl(keys[0]);
      expect(pttl).toBeGreaterThan(15_000); // TTL is kept in Redis
      await redis.set(keys[0], '{"klr":999,"garbage":true}', 'PX', 10_000);
      const b = engine(REDIS);
      const rb = await b.complete(req);
      expect(rb.cached).toBe(false);
      expect(fake.stats().requests).toBe(2);
      await sleep(20);
      const raw = await redis.get(keys[0]);
      expect(JSON.parse(raw as string).klr).toBe(1); // deleted, then rewritten with a good value
    } finally {
      redis.disconnect();
    }
  });
});

describe('shared breaker and cool-down state', () => {
  it('a breaker opened in one process is skipped by the other within a second', async () => {
    fake.setBehavior('p', { mode: 'error' });
    const a = engine(REDIS, { cache: false });
    const b = engine(REDIS, { cache: false });
    await sleep(100); // subscriptions up
    await a.complete(q());
    await a.complete(q());
    expect(a.status().models[0].state).toBe('open');
    await waitFor(() => b.status().models[0].state === 'open', 1000);
    const before = fake.stats('p').requests;
    const rb = await b.complete(q());
    expect(rb.attempts[0]).toMatchObject({ model: 'primary', outcome: 'circuit_open' });
    expect(fake.stats('p').requests).toBe(before);
  });

  it('a process that starts during an incident reads the open breaker from Redis', async () => {
    fake.setBehavior('p', { mode: 'error' });
    const a = engine(REDIS, { cache: false });
    await a.complete(q());
    await a.complete(q());
    await sleep(50);
    const late = engine(REDIS, { cache: false });
    await waitFor(() => late.status().models[0].state === 'open', 1000);
  });

  it('only one process in the fleet sends the half-open probe; its success closes the breaker everywhere', async () => {
    fake.setBehavior('p', { mode: 'error' });
    // the probe alone answers for its request: no rescue by the next model beside it
    const opts = { cache: false as const, breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 300 }, rescue: false };
    const a = engine(REDIS, opts);
    const b = engine(REDIS, opts);
    await sleep(100);
    await a.complete(q());
    await a.complete(q());
    await waitFor(() => b.status().models[0].state === 'open', 1000);
    fake.setBehavior('p', { latencyMs: 100 });
    await waitFor(() => a.status().models[0].state === 'half_open' && b.status().models[0].state === 'half_open', 2000);
    fake.resetRequests();
    const results = await Promise.all([a.complete(q()), b.complete(q()), a.complete(q()), b.complete(q())]);
    expect(fake.stats('p').requests).toBe(1);
    expect(results.filter((r) => r.model === 'primary')).toHaveLength(1);
    expect(results.some((r) => r.attempts[0].message === 'another process is probing')).toBe(true);
    await waitFor(() => a.status().models[0].state === 'closed' && b.status().models[0].state === 'closed', 1000);
  });

  it('a 429 cool-down in one process is honoured by the other', async () => {
    fake.setBehavior('p', { mode: 'rate_limit', retryAfterS: 3 });
    // the shared cool-down alone: no same-model retry after the retry-after
    const a = engine(REDIS, { cache: false, retry: false });
    const b = engine(REDIS, { cache: false, retry: false });
    await sleep(100);
    await a.complete(q());
    await waitFor(() => b.status().models[0].cooldownUntil !== null, 1000);
    const rb = await b.complete(q());
    expect(rb.attempts[0]).toMatchObject({ outcome: 'rate_limited', latencyMs: 0 });
    expect(fake.stats('p').requests).toBe(1);
  });
});

describe('Redis is never a point of failure', () => {
  it('a port with nothing behind it costs no failed request and no wait beyond the timeout', async () => {
    const e = engine('redis://127.0.0.1:1', {}, 50);
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const r = await e.complete(q());
      expect(r.model).toBe('primary');
      expect(Date.now() - t0).toBeLessThan(50 + 150);
    }
    expect(e.status().shared).toMatchObject({ status: 'down' });
    expect(e.status().shared!.failures).toBeGreaterThan(0);
  });

  it('Redis stopped mid-test: requests keep succeeding on local state, and the store reconnects by itself', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    try {
      const url = `redis://127.0.0.1:${port}`;
      const a = engine(url, {}, 150);
      const b = engine(url, {}, 150);
      const req = q();
      await a.complete(req);
      await sleep(20);
      expect((await b.complete(req)).cached).toBe(true);
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const r = await b.complete(q());
        expect(r.cached).toBe(false);
        expect(Date.now() - t0).toBeLessThan(150 + 350);
      }
      expect(b.status().shared?.status).toBe('down');
      server = await startRedis(port);
      // it reconnects by itself (back-off up to 2 s); a request then finds the store healthy again
      const end = Date.now() + 6000;
      while (b.status().shared?.status !== 'ok' && Date.now() < end) {
        await b.complete(q());
        await sleep(100);
      }
      expect(b.status().shared?.status).toBe('ok');
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('the subscriber connection', () => {
  it('subscribes again after a reconnection, and closing with that SUBSCRIBE still queued is no unhandled rejection', async () => {
    // A TCP proxy in front of the real Redis that can cut every connection; once told to, it cuts the next
    // SUBSCRIBE before Redis sees it and refuses every connection after that, so the re-subscription stays queued.
    const sockets = new Set<net.Socket>();
    let subscribes = 0;
    let cutNextSubscribe = false;
    let refuse = false;
    const proxy = net.createServer((client) => {
      client.on('error', () => undefined);
      if (refuse) return void client.destroy();
      const upstream = net.connect(6379, '127.0.0.1');
      upstream.on('error', () => undefined);
      sockets.add(client).add(upstream);
      client.on('data', (d) => {
        if (/subscribe/i.test(d.toString('latin1'))) {
          subscribes++;
          if (cutNextSubscribe) {
            refuse = true;
            client.destroy();
            return;
          }
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const watch = watchProcess();
    const store = redisStore({ url: `redis://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, prefix });
    const publisher = redisStore({ url: REDIS, prefix });
    try {
      const got: string[] = [];
      await store.subscribe('ch', (m) => got.push(m));
      // every connection lost: the subscriber reconnects and subscribes again by itself
      for (const c of sockets) c.destroy();
      for (const end = Date.now() + 5000; !got.includes('after') && Date.now() < end; await sleep(50)) await publisher.publish('ch', 'after');
      expect(got).toContain('after');
      // lost again, and this time the SUBSCRIBE sent after reconnecting is cut in flight and Redis stays away
      cutNextSubscribe = true;
      const before = subscribes;
      for (const c of sockets) c.destroy();
      await waitFor(() => refuse && subscribes > before, 5000);
      await store.close(); // rejects what the subscriber still had queued
      await sleep(50);
      expect(watch.unhandled).toEqual([]);
    } finally {
      watch.stop();
      await store.close();
      await publisher.close();
      for (const c of sockets) c.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitFor(() => probe.status === 'ready', 5000);
  } finally {
    probe.disconnect();
  }
  return child;
}
