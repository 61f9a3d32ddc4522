import type { LlmEventListener, LlmEventMap, LlmEventName, RequestSummary, Unsubscribe } from '../../types';
import { callIsolated } from './user-callback';

/** The fields of a request's outcome that a filtered `request` listener decides on (a result has them too). */
export type RequestOutline = Pick<RequestSummary, 'cached' | 'fallback' | 'attempts'>;

interface FilteredListener {
  want: (outline: RequestOutline) => boolean;
  listener: (summary: RequestSummary) => void;
}

/**
 * Typed events. A listener that throws, or an `async` one whose promise rejects, is isolated: the error is
 * reported through `process.emitWarning` once per listener and never reaches the request that emitted the
 * event (nor becomes an unhandled rejection).
 */
export class EventBus {
  readonly #listeners = new Map<LlmEventName, Set<(payload: never) => void>>();
  readonly #warned = new WeakSet<object>();
  readonly #filtered = new Set<FilteredListener>();

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

  /**
   * A `request` listener that wants only some requests (the review log: fallbacks and invalid answers). A
   * request nobody wants gets no summary built at all, which is most requests.
   */
  onRequestWhere(want: FilteredListener['want'], listener: FilteredListener['listener']): Unsubscribe {
    const entry: FilteredListener = { want, listener };
    this.#filtered.add(entry);
    return () => {
      this.#filtered.delete(entry);
    };
  }

  /** Whether a `request` summary of a request that ended like `outline` has a listener. */
  wantsRequest(outline: RequestOutline): boolean {
    if (this.has('request')) return true;
    for (const f of this.#filtered) if (f.want(outline)) return true;
    return false;
  }

  /** Whether a `request` summary might be wanted: anyone listens, filtered or not. */
  mayWantRequest(): boolean {
    return this.#filtered.size > 0 || this.has('request');
  }

  /** Whether anyone listens: lets hot paths skip building payloads. */
  has(event: LlmEventName): boolean {
    const set = this.#listeners.get(event);
    return set !== undefined && set.size > 0;
  }

  emit<K extends LlmEventName>(event: K, payload: LlmEventMap[K]): void {
    if (event === 'request' && this.#filtered.size > 0) {
      const summary = payload as RequestSummary;
      for (const f of this.#filtered) if (f.want(summary)) this.#call(event, f.listener as LlmEventListener<K>, payload);
    }
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of set) this.#call(event, listener as LlmEventListener<K>, payload);
  }

  #call<K extends LlmEventName>(event: K, listener: LlmEventListener<K>, payload: LlmEventMap[K]): void {
    callIsolated(listener as (p: LlmEventMap[K]) => unknown, payload, (err) => {
      if (this.#warned.has(listener)) return;
      this.#warned.add(listener);
      process.emitWarning(`koa-llm-resilience: a "${event}" listener threw (${err instanceof Error ? err.message : String(err)}); ignored`);
    });
  }

  clear(): void {
    this.#listeners.clear();
    this.#filtered.clear();
  }
}
