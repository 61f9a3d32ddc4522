import type { CallContext, StreamStart } from '../core/complete';

const listeners = new WeakMap<object, (start: StreamStart) => void>();

/**
 * Asks to be told who answers the next stream started through a request's own `ctx.llm`/`req.llm` (`request` is
 * the Koa context or the Node request it belongs to): the OpenAI-compatible gateway names the answering model in
 * its chunks from the first one on. For one stream: the listener is dropped once handed to a stream's call.
 */
export function onNextStreamStart(request: object, listener: (start: StreamStart) => void): void {
  listeners.set(request, listener);
}

/** `call`, with the listener asked for `request` (if any) told at the stream's start too, after any it had. */
export function withStreamStartListener(request: object, call: CallContext): CallContext {
  const listener = listeners.get(request);
  if (!listener) return call;
  listeners.delete(request);
  const before = call.onStreamStart;
  call.onStreamStart = before
    ? (s) => {
        before(s);
        listener(s);
      }
    : listener;
  return call;
}
