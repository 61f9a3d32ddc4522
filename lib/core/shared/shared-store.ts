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
}
