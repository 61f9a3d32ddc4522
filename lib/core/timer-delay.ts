/**
 * The longest delay a Node timer takes: 2^31 − 1 ms (about 24.8 days). A longer one (or a negative one, or NaN) is
 * not refused: Node fires it after 1 ms, with a `TimeoutOverflowWarning` for the long ones. So every duration the
 * library accepts is bounded by this in its schema, and every timer set for a computed delay goes through
 * `timerDelay`.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A computed delay as a Node timer can take it: rounded up to a whole ms, at least 1, at most `MAX_TIMER_MS`
 * (an infinite or too-long delay fires at the limit: a caller whose deadline is further re-arms then, or never
 * waits that long in practice). NaN becomes `MAX_TIMER_MS`: a delay nobody could compute must not fire at once.
 */
export function timerDelay(ms: number): number {
  if (!(ms < MAX_TIMER_MS)) return MAX_TIMER_MS; // also NaN and Infinity
  return ms <= 1 ? 1 : Math.ceil(ms);
}
