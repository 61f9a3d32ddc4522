import type { ServerResponse } from 'node:http';
import { AbortLatch, type AbortSource } from '../core/signals';
import { isRequestAbortedError } from '../errors/request-aborted-error';

const LATCH = Symbol('koa-llm-resilience.disconnect');
type WithLatch = ServerResponse & { [LATCH]?: AbortLatch };

/** One listener function for every response (no closure or `once` wrapper per request). */
function onClose(this: WithLatch): void {
  if (!this.writableFinished) this[LATCH]?.abort();
}

/**
 * Fires when the HTTP client goes away before the response is finished: the response's 'close' without
 * `writableFinished` (stable across Node versions, unlike the request's 'close'). A latch, not an
 * `AbortController`: one is made for every request, and on Node 20 a controller costs more than the latch's
 * whole job. Asked twice for the same response, it returns the same source. Framework-free: the Koa and the
 * Express adapters both use it.
 */
export function responseDisconnect(response: ServerResponse): AbortSource {
  const res = response as WithLatch;
  const existing = res[LATCH];
  if (existing) return existing; // one per response, shared by every adapter that asks
  const latch = new AbortLatch();
  if (res.destroyed && !res.writableFinished) {
    latch.abort();
  } else {
    res[LATCH] = latch;
    res.on('close', onClose);
  }
  return latch;
}

/** What writing to a client that has gone fails with (the socket closed or reset under the response). */
const CLIENT_GONE_CODES: ReadonlySet<string> = new Set([
  'ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END',
  // a client that closes its side before sending the whole body (Node's HTTP parser, reading the request)
  'HPE_INVALID_EOF_STATE',
]);

/**
 * Whether `err` only says that the client went away before `response` was finished (the socket's error, the
 * response's premature close, or our own `RequestAbortedError` for the call it cancelled), and it has: a reader
 * leaving a stream is normal, not an application error. Anything else, an error while the client's connection is
 * still open, or any error once the response finished, is one.
 */
export function isClientGone(err: unknown, response: ServerResponse): boolean {
  if (response.writableFinished) return false;
  // the client must really be gone: the same codes from the app's own calls (a database, another service) while
  // the client still waits are the app's errors, and Koa's error handling must still answer it
  const socket = response.socket;
  if (!response.destroyed && socket && !socket.destroyed && socket.readyState === 'open') return false;
  if (isRequestAbortedError(err)) return true;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && CLIENT_GONE_CODES.has(code);
}
