import type { Redis } from 'ioredis';
import { ConfigError } from '../../errors/config-error';
import type { SharedStore, SharedStoreHealth } from './shared-store';

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

/**
 * ioredis, loaded when the first store is made: loading it takes about 90 ms, which an app that never uses a
 * shared store would otherwise pay at every start (see the README's shared-store section).
 */
function ioredis(): typeof import('ioredis') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ioredis') as typeof import('ioredis');
}

/**
 * The shared store on Redis (ioredis: maintained, built-in reconnection with back-off, per-command timeouts,
 * pub/sub and Cluster/Sentinel support). Never a point of failure: every call is bounded by `timeoutMs`, fails
 * fast while disconnected (no offline queue), and reconnects by itself.
 */
export function redisStore(options: RedisStoreOptions): SharedStore {
  const problems = [];
  if (!options || (options.url === undefined) === (options.client === undefined)) problems.push({ path: '/store', message: 'redisStore() needs exactly one of `url` or `client`' });
  if (options?.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) problems.push({ path: '/store/timeoutMs', message: 'must be a positive integer' });
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
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'klr:';
    this.#timeoutMs = options.timeoutMs ?? 50;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new (ioredis().Redis)(options.url as string, clientOptions(this.#timeoutMs));
    this.#watch(this.#client);
  }

  #watch(client: Redis): void {
    client.on('error', (err: Error) => this.#fail(err));
    client.on('close', () => this.#fail(new Error('connection closed')));
    client.on('ready', () => {
      this.#health = { ...this.#health, status: 'ok' };
    });
  }

  get(key: string): Promise<string | null> {
    return this.#call(() => this.#client.get(this.prefix + key), null);
  }

  async set(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#call(() => this.#client.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs))), null)) === 'OK';
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean | null> {
    const r = await this.#call(() => this.#client.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'), TIMEOUT);
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
    const keys = await this.#call(async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await this.#client.scan(cursor, 'MATCH', this.prefix + pattern, 'COUNT', 200);
        cursor = next;
        for (const k of batch) if (found.length < limit) found.push(k.slice(this.prefix.length));
      } while (cursor !== '0' && found.length < limit);
      return found;
    }, [] as string[], this.#timeoutMs * 10);
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
        if (channels.length > 0) void this.#call(() => sub.subscribe(...channels), 0, this.#timeoutMs * 20);
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
    await this.#call(() => sub.subscribe(this.prefix + channel), 0, this.#timeoutMs * 20);
  }

  health(): SharedStoreHealth {
    return { ...this.#health };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const mine = [this.#subscriber, this.#ownsClient ? this.#client : null].filter((c): c is Redis => c !== null);
    // Resolve once the sockets are really closed, so nothing is left open behind close().
    await Promise.all(
      mine.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.status === 'end') return resolve();
            const t = setTimeout(resolve, 1000);
            c.once('end', () => {
              clearTimeout(t);
              resolve();
            });
            c.disconnect();
          }),
      ),
    );
  }

  async #call<T, F>(fn: () => Promise<T>, fallback: F, timeoutMs = this.#timeoutMs): Promise<T | F> {
    if (this.#closed) return fallback;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<typeof TIMEOUT>((resolve) => {
          // (a command left behind by the race still settles later; its outcome is ignored)
          timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
        }),
      ]);
      if (result === TIMEOUT) {
        this.#fail(new Error(`no answer within ${timeoutMs} ms`));
        return fallback;
      }
      this.#health = { ...this.#health, status: 'ok' };
      return result as T;
    } catch (err) {
      this.#fail(err);
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  #fail(err: unknown): void {
    const raw = err instanceof Error ? err.message : String(err);
    // never keep a URL (it may carry a password)
    const lastError = raw.replace(/\b\w+:\/\/\S+/g, '<url>').slice(0, 200);
    this.#health = { status: 'down', failures: this.#health.failures + 1, lastError };
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
    // reconnect forever, backing off to 2 s
    retryStrategy: (times: number) => Math.min(50 * times, 2000),
    lazyConnect: false,
  };
}
