import { RequestAbortedError } from '../../errors/request-aborted-error';
import { AbortLatch, type AbortSource } from '../signals';

/** How long the last caller to leave waits for the cancelled work to say how it ended (it takes microtasks). */
const LAST_LEAVER_GRACE_MS = 50;

interface Flight<T, P> {
  promise: Promise<T>;
  controller: AbortLatch;
  waiters: number;
  /** What the work published for those who join it while it runs (a stream's pieces so far). */
  published?: P;
}

/**
 * Identical calls in flight share one execution. Each caller may leave on its own signal; the shared
 * work is aborted only when every caller has left, so one impatient client never cancels the others.
 * With `copyForJoiner`, every caller that joined gets its own copy of the value (the one who started the work
 * gets the value itself), so that no caller can change what another one got.
 * The work may also `publish` something for the callers that join it before it ends (`published`): a stream's
 * pieces, which those who join follow as they come.
 */
export class SingleFlight<T, P = never> {
  readonly #flights = new Map<string, Flight<T, P>>();

  constructor(readonly copyForJoiner?: (value: T) => T) {}

  get size(): number {
    return this.#flights.size;
  }

  /** What the flight in progress under `key` has published (see `run`'s `publish`), if any. */
  published(key: string): P | undefined {
    return this.#flights.get(key)?.published;
  }

  /**
   * `joined` is true when the caller rode on a flight somebody else started. `work` may call `publish` (before its
   * first `await`, for every caller that joins to see it) to share its progress through `published(key)`.
   */
  run(key: string, work: (signal: AbortSource, publish: (progress: P) => void) => Promise<T>, callerSignal?: AbortSource): Promise<{ value: T; joined: boolean }> {
    let flight = this.#flights.get(key);
    const joined = flight !== undefined;
    if (!flight) {
      const controller = new AbortLatch();
      const created: Flight<T, P> = { promise: undefined as unknown as Promise<T>, controller, waiters: 0 };
      created.promise = work(controller, (progress) => {
        created.published = progress;
      }).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      // Nobody may be left to observe a rejection once every waiter has gone.
      created.promise.catch(() => undefined);
      this.#flights.set(key, created);
      flight = created;
    }
    const f = flight;
    f.waiters++;
    const copy = joined ? this.copyForJoiner : undefined;
    if (!callerSignal) return f.promise.then((value) => ({ value: copy ? copy(value) : value, joined }));
    return new Promise((resolve, reject) => {
      let left = false;
      const onAbort = (): void => {
        left = true;
        f.waiters--;
        if (f.waiters > 0) return reject(new RequestAbortedError('The request was cancelled'));
        // The last caller to leave cancels the shared work, then rejects with how it ended, so that the chain's
        // `RequestAbortedError` carries the attempts made (the interrupted one `cancelled`): every step of the work
        // listens to that signal and ends within microtasks. Work that ignores it is not waited for past a grace.
        f.controller.abort();
        const plain = (): void => reject(new RequestAbortedError('The request was cancelled'));
        const grace = setTimeout(plain, LAST_LEAVER_GRACE_MS);
        grace.unref(); // never what keeps a closing process alive
        f.promise.then(
          () => {
            clearTimeout(grace);
            plain();
          },
          (err: unknown) => {
            clearTimeout(grace);
            if (err instanceof RequestAbortedError) reject(err);
            else plain();
          },
        );
      };
      if (callerSignal.aborted) return onAbort();
      callerSignal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (value) => {
          if (left) return;
          callerSignal.removeEventListener('abort', onAbort);
          try {
            resolve({ value: copy ? copy(value) : value, joined });
          } catch (err) {
            reject(err);
          }
        },
        (err: unknown) => {
          if (left) return;
          callerSignal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }
}
