import type { LlmEventListener, LlmEventMap, LlmEventName, Unsubscribe } from '../../types';

/**
 * Typed events. A listener that throws is isolated: the error is reported through
 * `process.emitWarning` once per listener and never reaches the request that emitted the event.
 */
export class EventBus {
  readonly #listeners = new Map<LlmEventName, Set<(payload: never) => void>>();
  readonly #warned = new WeakSet<object>();

  on<K extends LlmEventName>(event: K, listener: LlmEventListener<K>): Unsubscribe {
    if (typeof listener !== 'function') throw new TypeError(`listener for "${event}" must be a function`);
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => {
      set.delete(listener as (payload: never) => void);
    };
  }

  /** Whether anyone listens: lets hot paths skip building payloads. */
  has(event: LlmEventName): boolean {
    const set = this.#listeners.get(event);
    return set !== undefined && set.size > 0;
  }

  emit<K extends LlmEventName>(event: K, payload: LlmEventMap[K]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of set) {
      try {
        (listener as LlmEventListener<K>)(payload);
      } catch (err) {
        if (!this.#warned.has(listener)) {
          this.#warned.add(listener);
          process.emitWarning(
            `koa-llm-resilience: a "${event}" listener threw (${err instanceof Error ? err.message : String(err)}); ignored`,
          );
        }
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
