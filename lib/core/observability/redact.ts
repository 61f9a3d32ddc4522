/** Field names that hold secrets (compared without '-'/'_', case-insensitively): apiKey, x-api-key, accessToken, … but not promptTokens. */
const SECRET_KEY = /(apikey|authorization|secret|password|passwd|cookie|token|credentials?)$/;
const PATTERNS: [RegExp, string][] = [
  [/\bsk-[A-Za-z0-9_-]{6,}/g, 'sk-[REDACTED]'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [REDACTED]'],
  [/([?&](?:key|api[-_]?key|token|access_token|secret|password)=)[^&\s"']+/gi, '$1[REDACTED]'],
  [/(\/\/[^:/@\s]+:)[^@/\s]+@/g, '$1[REDACTED]@'],
];

/** Replaces secrets in a string: API keys (sk-…), bearer tokens, `?key=` query values, passwords in URLs. */
export function redactString(s: string): string {
  let out = s;
  for (const [re, to] of PATTERNS) out = out.replace(re, to);
  return out;
}

/** A deep copy with every secret-looking field and string redacted. Cycles and depth are bounded. */
export function redact<T>(value: T, depth = 0, seen = new WeakSet<object>()): T {
  if (typeof value === 'string') return redactString(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (seen.has(value)) return '[Circular]' as T;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k.toLowerCase().replace(/[-_]/g, '')) ? '[REDACTED]' : redact(v, depth + 1, seen);
  return out as T;
}
