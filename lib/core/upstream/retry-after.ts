/**
 * Reads `retry-after-ms`, `retry-after` (seconds or HTTP date) and `x-ratelimit-reset-*` ("1s", "6m0s", "20ms"),
 * the latter for the limit that was hit (see below).
 */
export function parseRetryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const ra = headers.get('retry-after');
  if (ra !== null && ra.trim() !== '') {
    const s = Number(ra);
    if (Number.isFinite(s) && s >= 0) return s * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  // OpenAI sends both resets on every answer; the one that matters is the limit that was hit. A limit whose
  // `x-ratelimit-remaining-*` is known and above zero was not it (a 429 for requests says nothing about how
  // long the token budget takes to refill completely). When that rules out both, or no count is sent: the longest.
  let hit: number | undefined;
  let any: number | undefined;
  for (const kind of ['requests', 'tokens']) {
    const v = headers.get(`x-ratelimit-reset-${kind}`);
    const d = v === null ? undefined : parseDuration(v);
    if (d === undefined) continue;
    any = Math.max(any ?? 0, d);
    const left = headers.get(`x-ratelimit-remaining-${kind}`);
    const notHit = left !== null && left.trim() !== '' && Number(left) > 0;
    if (!notHit) hit = Math.max(hit ?? 0, d);
  }
  return hit ?? any;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as OpenAI sends them: "1s", "6m0s", "1h2m3.5s", "120ms". */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(re)) {
    total += Number(match[1]) * UNIT_MS[match[2]];
    consumed += match[0].length;
  }
  return consumed === trimmed.length && consumed > 0 ? total : undefined;
}
