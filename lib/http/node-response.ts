import type { ServerResponse } from 'node:http';
import { EVENT_STREAM_HEADERS } from './sse-events';

/** Sets each header on a Node response. */
export function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const name of Object.keys(headers)) res.setHeader(name, headers[name]);
}

/**
 * Answers on a Node response: `status`, `headers`, then `body` as JSON, or no body when it is null. Nothing is
 * sent once the response started or the client is gone.
 */
export function sendAnswer(res: ServerResponse, answer: { status: number; headers?: Record<string, string>; body: unknown }): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = answer.status;
  if (answer.headers) setHeaders(res, answer.headers);
  if (answer.body === null || answer.body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(answer.body);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Starts a `text/event-stream` answer on a Node response and returns where to write it: writes after the client
 * left, or after the end, are dropped.
 */
export function openNodeEventStream(res: ServerResponse): { write(text: string): void; end(): void } {
  res.statusCode = 200;
  setHeaders(res, EVENT_STREAM_HEADERS);
  res.socket?.setNoDelay(true);
  res.flushHeaders();
  return {
    write: (text) => {
      if (!res.destroyed && !res.writableEnded) res.write(text);
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
  };
}
