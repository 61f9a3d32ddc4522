/** Health of the shared store, as `status()` reports it. */
export interface SharedStoreHealth {
  /** `ok`: the last call succeeded; `down`: the last call failed or timed out (local state is used meanwhile). */
  status: 'ok' | 'down';
  /** Failed or timed-out calls since start. */
  failures: number;
  /** Short reason of the last failure (never a URL with credentials). */
  lastError: string | null;
}

/**
 * What one request has waited on the shared store so far, all its calls together (ms). The store lets the
 * request wait only for what is left of its timeout: one timeout a request, however many calls it makes.
 */
export interface StoreBudget {
  spentMs: number;
}

/**
 * What the library needs from a store shared by every process of an app. Every method is best-effort:
 * it never throws and never takes longer than the store's timeout (with a `budget`, than what is left of it);
 * a failure reads as "nothing there". While the store is known to be down, no call waits on it at all.
 */
export interface SharedStore {
  readonly prefix: string;
  get(key: string, budget?: StoreBudget): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** SET NX PX: true if this caller took the key, false if someone holds it, null if the store is unavailable. */
  setIfAbsent(key: string, value: string, ttlMs: number, budget?: StoreBudget): Promise<boolean | null>;
  del(key: string): Promise<void>;
  /** GET of a value and EXISTS of a lock in one round trip. */
  getWithLock(key: string, lockKey: string): Promise<{ value: string | null; locked: boolean } | null>;
  /** Every key under `prefix + pattern` (SCAN), for warming up; bounded. */
  scan(pattern: string, limit: number): Promise<string[]>;
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes (on a connection of its own); the handler's errors are swallowed. */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  health(): SharedStoreHealth;
  close(): Promise<void>;
  /**
   * Optional: runs one of the library's scripts atomically (Redis: EVALSHA, EVAL the first time) on `keys` (each
   * under `prefix`). Its reply, or null when the store is down, slow or cannot run it (the caller then decides on
   * its own, in process). A store without it keeps the tenant limits per process.
   */
  evalScript?(script: StoreScript, keys: readonly string[], args: readonly (string | number)[], budget?: StoreBudget): Promise<unknown[] | null>;
}

/** A script `evalScript` runs: its source and the SHA-1 of it. */
export interface StoreScript {
  readonly source: string;
  readonly sha1: string;
}

/** Every method of `SharedStore`: a store lacking one is refused at start-up (the compiler keeps the list whole). */
export const STORE_METHODS = ['get', 'set', 'setIfAbsent', 'del', 'getWithLock', 'scan', 'publish', 'subscribe', 'health', 'close'] as const;
type Listed = (typeof STORE_METHODS)[number];
/** (fails to compile when `SharedStore` gains a method the list above does not name) */
const STORE_METHODS_COMPLETE: [Exclude<keyof SharedStore, 'prefix' | 'evalScript' | Listed>] extends [never] ? true : never = true;
void STORE_METHODS_COMPLETE;

/** What keeps `s` from being a shared store ('' when nothing does): the methods it lacks, or its prefix. */
export function storeProblem(s: unknown): string {
  if (!s || typeof s !== 'object') return 'must be a shared store, e.g. redisStore({ url })';
  const o = s as Record<string, unknown>;
  const missing = STORE_METHODS.filter((m) => typeof o[m] !== 'function');
  if (missing.length > 0) return `must be a shared store, e.g. redisStore({ url }): it lacks ${missing.map((m) => `${m}()`).join(', ')}`;
  if (typeof o.prefix !== 'string') return 'must be a shared store, e.g. redisStore({ url }): its prefix is not a string';
  return '';
}
