/**
 * Child process: a persistent autocannon, driven over IPC, so the HTTP blocks of bench:overhead can be short
 * and many (no process start-up per block, nothing started on the loaded cores between blocks).
 * `{ id, url, connections, seconds, amount? }` → `{ id, total, seconds, p50, p99, bad }`.
 */
import autocannon from 'autocannon';

export interface LoadBlock {
  id: number;
  url: string;
  connections: number;
  seconds: number;
  /** Send exactly this many requests instead (the block ends when they are answered); `seconds` is then ignored. */
  amount?: number;
}

export interface LoadResult {
  id: number;
  /** Responses completed in the block. */
  total: number;
  /** The block's measured length. */
  seconds: number;
  p50: number;
  p99: number;
  /** Non-2xx responses plus connection errors (timeouts included). */
  bad: number;
  error?: string;
}

process.on('message', (m: LoadBlock) => {
  const body = JSON.stringify({ text: 'hello' });
  autocannon({ url: `${m.url}/chat`, connections: m.connections, ...(m.amount ? { amount: m.amount } : { duration: m.seconds }), method: 'POST', headers: { 'content-type': 'application/json' }, body }, (err, r) => {
    const out: LoadResult = err
      ? { id: m.id, total: 0, seconds: m.seconds, p50: NaN, p99: NaN, bad: 0, error: String(err) }
      : { id: m.id, total: r.requests.total, seconds: r.duration || m.seconds, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors };
    process.send?.(out);
  });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
