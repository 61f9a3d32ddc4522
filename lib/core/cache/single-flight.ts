import { RequestAbortedError } from '../../errors/request-aborted-error';
import { AbortLatch, type AbortSource } from '../signals';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortLatch;
  waiters: number;
}

/**
 * Identical calls in flight share one execution. Each caller may leave on its own signal; the shared
 * work is aborted only when every caller has left, so one impatient client never cancels the others.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  get size(): number {
    return this.#flights.size;
  }

  /** `joined` is true when the caller rode on a flight somebody else started. */
  run(key: string, work: (signal: AbortSource) => Promise<T>, callerSignal?: AbortSource): Promise<{ value: T; joined: boolean }> {
    let flight = this.#flights.get(key);
    const joined = flight !== undefined;
    if (!flight) {
      const controller = new AbortLatch();
      const promise = work(controller).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      const created: Flight<T> = { promise, controller, waiters: 0 };
      // Nobody may be left to observe a rejection once every waiter has gone.
      promise.catch(() => undefined);
      this.#flights.set(key, created);
      flight = created;
    }
    const f = flight;
    f.waiters++;
    if (!callerSignal) return f.promise.then((value) => ({ value, joined }));
    return new Promise((resolve, reject) => {
      const leave = (): void => {
        f.waiters--;
        if (f.waiters === 0) f.controller.abort();
      };
      const onAbort = (): void => {
        leave();
        reject(new RequestAbortedError('The request was cancelled'));
      };
      if (callerSignal.aborted) return onAbort();
      callerSignal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (value) => {
          callerSignal.removeEventListener('abort', onAbort);
          resolve({ value, joined });
        },
        (err: unknown) => {
          callerSignal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }
}
