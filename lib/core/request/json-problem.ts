/** Deepest nesting a request's objects may have (messages, their content parts, `responseFormat`, `schema`). */
export const MAX_JSON_DEPTH = 64;

/**
 * Why `value` cannot be sent to a provider as JSON, if it cannot: it refers back to itself (a cycle), it nests
 * deeper than `MAX_JSON_DEPTH`, or it holds a BigInt. A body parsed from HTTP can nest deep (JSON.parse does
 * not overflow where a recursive stringify does), and a caller in the same process can pass a cycle or a
 * BigInt: without this check each would fail later, inside the cache key or the SDK's own `JSON.stringify`, as
 * an internal error or as a failed attempt counted against a healthy model's breaker. `path` names the value
 * in the message, followed by `index` when given (`/messages`, 0: `/messages/0`).
 */
export function jsonProblem(value: unknown, path: string, index?: number): string | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'bigint')) return undefined;
  const found = walk(value, 0);
  if (!found) return undefined;
  const keys = index === undefined ? found.keys : [index, ...found.keys];
  return `${[path, ...keys].join('/')}: ${found.reason}`;
}

/** The objects from the root to the one being walked (walks are synchronous: one list serves them all). */
const ancestors: object[] = [];

/** Where (the keys from `value` down) and why; the path string is built only for a problem. */
function walk(value: unknown, depth: number): { keys: (string | number)[]; reason: string } | undefined {
  if (typeof value === 'bigint') return { keys: [], reason: 'is a BigInt, which JSON cannot carry' };
  if (value === null || typeof value !== 'object') return undefined;
  if (ancestors.includes(value)) return { keys: [], reason: 'refers back to an object that contains it (a cycle)' };
  if (depth >= MAX_JSON_DEPTH) return { keys: [], reason: `nests more than ${MAX_JSON_DEPTH} levels deep` };
  if (ArrayBuffer.isView(value)) return undefined; // bytes hold no objects (and a key per byte would be slow to list)
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = child(value[i], i, depth);
        if (found) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(value)) {
      const found = child((value as Record<string, unknown>)[key], key, depth);
      if (found) return found;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}

function child(v: unknown, key: string | number, depth: number): ReturnType<typeof walk> {
  if (typeof v !== 'object' && typeof v !== 'bigint') return undefined;
  const found = walk(v, depth + 1);
  found?.keys.unshift(key);
  return found;
}
