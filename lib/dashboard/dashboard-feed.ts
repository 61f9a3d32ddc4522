import type { ServerResponse } from 'node:http';
import type { LlmEngine } from '../core/engine';
import { sseFrame } from '../http/sse-events';
import type { DashboardSnapshot } from './dashboard-snapshot';

/** Where the feed goes: `write` raw SSE text, `end` the response (both no-ops once the client is gone). */
export interface FeedSink {
  write(text: string): void;
  end(): void;
}

/**
 * The live feed on an opened event stream: an `event: snapshot` at once, then one every `intervalMs`, until the
 * client leaves (`res` closes) or the engine closes (its `close()` ends every feed, so nothing keeps the
 * process alive).
 */
export function runDashboardFeed(engine: LlmEngine, snapshot: () => DashboardSnapshot, intervalMs: number, res: ServerResponse, out: FeedSink): void {
  const send = (): void => out.write(sseFrame('snapshot', snapshot()));
  send();
  const timer = setInterval(send, intervalMs);
  const unregister = engine.onClose(() => stop());
  const stop = (): void => {
    clearInterval(timer);
    unregister();
    out.end();
  };
  res.once('close', stop);
}
