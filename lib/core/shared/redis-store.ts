import type { Redis } from 'ioredis';
import { ConfigError } from '../../errors/config-error';
import { loadIoredis } from './load-ioredis';
import type { SharedStore, SharedStoreHealth, StoreBudget, StoreScript } from './shared-store';
import { OPTION_DEFAULTS } from '../options/option-defaults';

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** `redis://…` URL. Give this or `client`. */
  url?: string;
  /** An ioredis client you own (it is not closed by `close()`; a duplicate is made for pub/sub). */
  client?: Redis;
  /** Key and channel prefix. Default: `'klr:'`. */
  prefix?: string;
  /** Longest any Redis call may take before it counts as failed and local state is used. Default: 50. */
  timeoutMs?: number;
}

const TIMEOUT = Symbol('timeout');
/** First and longest pause between the background checks of a store that is down (ms). */
const FIRST_CHECK_MS = 100;
const LONGEST_CHECK_MS = 2000;

/**
 * The shared store on Redis (ioredis: maintained, built-in reconnection with back-off, per-command timeouts,
 * pub/sub and Cluster/Sentinel support). Never a point of failure: a request waits at most `timeoutMs` on it, all
 * its calls together; once a call fails or gets no answer in time the store is known to be down and no call
 * waits on it at all until a background check finds Redis answering again (over a fresh connection when the
 * old one stopped answering).
 */
export function redisStore(options: RedisStoreOptions): SharedStore {
  const problems = [];
  if (!options || (options.url === undefined) === (options.client === undefined)) problems.push({ path: '/store', message: 'redisStore() needs exactly one of `url` or `client`' });
  // at most a minute: it is the longest any request waits on Redis, and 20 times it bounds a subscription's calls
  if (options?.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0 && options.timeoutMs <= 60_000)) {
    problems.push({ path: '/store/timeoutMs', message: 'must be a positive integer of at most 60000 (ms)' });
  }
  if (options?.prefix !== undefined && typeof options.prefix !== 'string') problems.push({ path: '/store/prefix', message: 'must be a string' });
  if (problems.length > 0) throw new ConfigError(problems);
  return new RedisSharedStore(options);
}

class RedisSharedStore implements SharedStore {
  readonly prefix: string;
  readonly #timeoutMs: number;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  #subscriber: Redis | null = null;
  readonly #handlers = new Map<string, (message: string) => void>();
  #health: SharedStoreHealth = { status: 'ok', failures: 0, lastError: null };
  /** Known down: calls return their fallback at once, until `#check` (or a new connection) finds Redis answering. */
  #down = false;
  #checkTimer: NodeJS.Timeout | null = null;
  #checkDelayMs = FIRST_CHECK_MS;
  /** When the current connection was opened (its handshake must be answered, or it is replaced). */
  #connectedAt = 0;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? OPTION_DEFAULTS.redisStore.prefix;
    this.#timeoutMs = options.timeoutMs ?? OPTION_DEFAULTS.redisStore.timeoutMs;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new (loadIoredis().Redis)(options.url as string, clientOptions(this.#timeoutMs));
    this.#watch(this.#client);
  }

  #watch(client: Redis): void {
    client.on('error', (err: Error) => this.#fail(err));
    client.on('close', () => this.#fail(new Error('connection closed')));
    client.on('connect', () => {
      this.#connectedAt = performance.now();
    });
    // ready: Redis answered the connection's handshake and ready check
    client.on('ready', () => this.#up());
  }

  get(key: string, budget?: StoreBudget): Promise<string | null> {
    return this.#call(() => this.#client.get(this.prefix + key), null, budget);
  }

  async set(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#call(() => this.#client.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs))), null)) === 'OK';
  }

  async setIfAbsent(key: string, value: string, ttlMs: number, budget?: StoreBudget): Promise<boolean | null> {
    const r = await this.#call(() => this.#client.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'), TIMEOUT, budget);
    return r === TIMEOUT ? null : r === 'OK';
  }

  async del(key: string): Promise<void> {
    await this.#call(() => this.#client.del(this.prefix + key), 0);
  }

  async getWithLock(key: string, lockKey: string): Promise<{ value: string | null; locked: boolean } | null> {
    const r = await this.#call(async () => {
      const res = await this.#client.multi().get(this.prefix + key).exists(this.prefix + lockKey).exec();
      if (!res) return null;
      return { value: (res[0]?.[1] as string | null) ?? null, locked: res[1]?.[1] === 1 };
    }, null);
    return r;
  }

  async scan(pattern: string, limit: number): Promise<string[]> {
    const keys = await this.#call(
      async () => {
        const found: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await this.#client.scan(cursor, 'MATCH', this.prefix + pattern, 'COUNT', 200);
          cursor = next;
          for (const k of batch) if (found.length < limit) found.push(k.slice(this.prefix.length));
        } while (cursor !== '0' && found.length < limit);
        return found;
      },
      [] as string[],
      undefined,
      this.#timeoutMs * 10,
    );
    return keys;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#call(() => this.#client.publish(this.prefix + channel, message), 0);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (this.#closed) return;
    this.#handlers.set(this.prefix + channel, handler);
    if (!this.#subscriber) {
      // The subscriber may queue its SUBSCRIBE until connected. After a reconnection it subscribes again itself:
      // ioredis's own re-subscription sends its SUBSCRIBE without a catch, so a connection lost before the reply
      // (a Redis that flaps) became an unhandled rejection, which ends a Node process by default.
      const sub = this.#client.duplicate({ ...clientOptions(this.#timeoutMs), maxRetriesPerRequest: null, autoResubscribe: false });
      sub.on('error', () => undefined); // the main connection reports health
      sub.on('ready', () => {
        const channels = [...this.#handlers.keys()];
        if (channels.length > 0) void this.#call(() => sub.subscribe(...channels), 0, undefined, this.#timeoutMs * 20, true);
      });
      sub.on('message', (ch: string, msg: string) => {
        try {
          this.#handlers.get(ch)?.(msg);
        } catch {
          // a bad message never breaks anything
        }
      });
      this.#subscriber = sub;
    }
    const sub = this.#subscriber;
    // (off every request's path: it may wait for a connection; while Redis is down, the subscriber's next
    // connection subscribes to every channel when it is ready)
    await this.#call(() => sub.subscribe(this.prefix + channel), 0, undefined, this.#timeoutMs * 20, true);
  }

  async evalScript(script: StoreScript, keys: readonly string[], args: readonly (string | number)[], budget?: StoreBudget): Promise<unknown[] | null> {
    const full = keys.map((k) => this.prefix + k);
    const r = await this.#call(
      async () => {
        try {
          return (await this.#client.evalsha(script.sha1, full.length, ...full, ...args)) as unknown[];
        } catch (err) {
          // a Redis that has not seen the script yet (or was restarted): sent whole, once
          if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
          return (await this.#client.eval(script.source, full.length, ...full, ...args)) as unknown[];
        }
      },
      null,
      budget,
    );
    return Array.isArray(r) ? r : null;
  }

  health(): SharedStoreHealth {
    return { ...this.#health };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkTimer) clearTimeout(this.#checkTimer);
    this.#checkTimer = null;
    const mine = [this.#subscriber, this.#ownsClient ? this.#client : null].filter((c): c is Redis => c !== null);
    // Resolve once the sockets are really closed, so nothing is left open behind close().
    await Promise.all(
      mine.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.status === 'end') return resolve();
            // between two attempts to connect there is no socket: nothing to wait for (and no 'end' to come)
            const between = c.status === 'reconnecting';
            const t = setTimeout(resolve, 1000);
            c.once('end', () => {
              clearTimeout(t);
              resolve();
            });
            c.disconnect();
            if (between) {
              clearTimeout(t);
              resolve();
            }
          }),
      ),
    );
  }

  /**
   * One call, bounded by `timeoutMs` and by what is left of the request's `budget`; the fallback at once while
   * the store is known down (unless `always`: the subscriber's own calls, off every request's path).
   */
  async #call<T, F>(fn: () => Promise<T>, fallback: F, budget?: StoreBudget, timeoutMs = this.#timeoutMs, always = false): Promise<T | F> {
    if (this.#closed || (this.#down && !always)) return fallback;
    const limit = budget ? Math.min(timeoutMs, Math.floor(this.#timeoutMs - budget.spentMs)) : timeoutMs;
    if (limit < 1) return fallback;
    const started = budget ? performance.now() : 0;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<typeof TIMEOUT>((resolve) => {
          // (a command left behind by the race still settles later; its outcome is ignored)
          timer = setTimeout(() => resolve(TIMEOUT), limit);
        }),
      ]);
      if (result === TIMEOUT) {
        // No answer within the store's timeout: down until a check finds it answering. (A request whose own
        // budget ran out learns nothing about Redis.)
        if (limit === timeoutMs) this.#fail(new Error(`no answer within ${timeoutMs} ms`));
        return fallback;
      }
      if (this.#health.status !== 'ok' && !this.#down) this.#health = { ...this.#health, status: 'ok' };
      return result as T;
    } catch (err) {
      // Redis answered with an error (a reply error): it is up, only this call failed
      if (err instanceof Error && err.name === 'ReplyError') this.#count(err);
      else this.#fail(err);
      return fallback;
    } finally {
      clearTimeout(timer);
      if (budget) budget.spentMs += performance.now() - started;
    }
  }

  #fail(err: unknown): void {
    this.#count(err);
    if (this.#closed) return;
    this.#health = { ...this.#health, status: 'down' };
    this.#down = true;
    this.#scheduleCheck();
  }

  #count(err: unknown): void {
    const raw = err instanceof Error ? err.message : String(err);
    // never keep a URL (it may carry a password)
    const lastError = raw.replace(/\b\w+:\/\/\S+/g, '<url>').slice(0, 200);
    this.#health = { status: this.#health.status, failures: this.#health.failures + 1, lastError };
  }

  #up(): void {
    if (this.#closed) return;
    this.#down = false;
    this.#health = { ...this.#health, status: 'ok' };
    this.#checkDelayMs = FIRST_CHECK_MS;
    if (this.#checkTimer) clearTimeout(this.#checkTimer);
    this.#checkTimer = null;
  }

  #scheduleCheck(): void {
    if (this.#closed || this.#checkTimer) return;
    const delay = this.#checkDelayMs;
    this.#checkDelayMs = Math.min(delay * 2, LONGEST_CHECK_MS);
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = null;
      void this.#check();
    }, delay);
    this.#checkTimer.unref(); // never what keeps a process alive
  }

  /**
   * In the background while the store is down: is Redis answering? A connection that is open but gets no answer
   * (a Redis that hangs, a network that drops packets) is replaced by a fresh one, the subscriber's too; a
   * connection that is being opened is left to ioredis (which backs off by itself), unless its handshake gets no
   * answer either.
   */
  async #check(): Promise<void> {
    if (this.#closed || !this.#down) return;
    const client = this.#client;
    if (client.status === 'ready') {
      if (await this.#answers(client)) return this.#up();
      if (this.#closed) return;
      this.#reconnect();
    } else if (client.status === 'connect' && performance.now() - this.#connectedAt > Math.max(200, this.#timeoutMs * 4)) {
      this.#reconnect();
    }
    this.#scheduleCheck();
  }

  async #answers(client: Redis): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = await Promise.race([
        client.ping(),
        new Promise<typeof TIMEOUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMEOUT), this.#timeoutMs * 2);
        }),
      ]);
      return r !== TIMEOUT;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #reconnect(): void {
    this.#client.disconnect(true);
    this.#subscriber?.disconnect(true);
  }
}

function clientOptions(timeoutMs: number) {
  return {
    commandTimeout: timeoutMs * 20,
    // Commands may wait for a (re)connection, but never longer than `timeoutMs` for the caller (see #call);
    // with maxRetriesPerRequest 0 the queue is flushed at every failed reconnection, so it stays small.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    // how long ioredis waits for a closing socket to end before destroying it: its timer outlives close() when
    // the socket was already gone (a Redis that was down), so it must not wait at all
    disconnectTimeout: 0,
    // reconnect forever, backing off to 2 s
    retryStrategy: (times: number) => Math.min(50 * times, 2000),
    lazyConnect: false,
  };
}
