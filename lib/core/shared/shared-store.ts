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
 * What the library needs from a store shared by every process of an app. Every method is best-effort:
 * it never throws and never takes longer than the store's timeout; a failure reads as "nothing there".
 */
export interface SharedStore {
  readonly prefix: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** SET NX PX: true if this caller took the key, false if someone holds it, null if the store is unavailable. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean | null>;
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
