import type { StreamResult, ToolCall, Usage } from '../../types';
import type { ChainSuccess } from '../fallback/fallback-chain';
import type { CachedAnswer } from './response-cache';

/**
 * Who holds what of a cached answer: the cache keeps a deep-frozen snapshot that nobody else holds, and every
 * caller it answers gets its own copy of the parts that can be changed (`usage`, the parsed `json`); strings and
 * booleans are shared as they are. An answer without `json` costs two small object copies a delivery.
 */

/** The snapshot the cache keeps: copied from what the caller that filled it holds, then frozen all the way down. */
export function frozenSnapshot(answer: CachedAnswer): CachedAnswer {
  const snapshot: Mutable<CachedAnswer> = {
    text: answer.text,
    model: answer.model,
    providerModel: answer.providerModel,
    fallback: answer.fallback,
    usage: Object.freeze({ ...answer.usage }),
    finishReason: answer.finishReason,
  };
  if (answer.json !== undefined) snapshot.json = copyJson(answer.json, true);
  return Object.freeze(snapshot);
}

/** Freezes a value parsed from the shared store in place (nobody else holds it yet). */
export function freezeParsed(answer: CachedAnswer): CachedAnswer {
  deepFreeze(answer);
  return answer;
}

/** What one caller gets from a stored snapshot: its own `usage` and `json`. */
export function deliver(entry: CachedAnswer): CachedAnswer {
  // (a literal of known shape: several times faster than spreading the frozen entry)
  const u = entry.usage;
  const usage: Usage = { promptTokens: u.promptTokens, completionTokens: u.completionTokens, totalTokens: u.totalTokens };
  if (u.costUsd !== undefined) usage.costUsd = u.costUsd;
  const copy: Mutable<CachedAnswer> = {
    text: entry.text,
    model: entry.model,
    providerModel: entry.providerModel,
    fallback: entry.fallback,
    usage,
    finishReason: entry.finishReason,
  };
  if (entry.json !== undefined) copy.json = copyJson(entry.json, false);
  return copy;
}

/**
 * What a flight of identical requests ends with: the chain's answer (a `complete()` made the call), a stream's
 * (a stream made it), or one another process shared.
 */
export type FlightValue = ChainSuccess | { streamed: StreamResult } | { shared: CachedAnswer };

/**
 * A caller that joined another's flight gets its own copy of everything a result is built from that can be
 * changed (the first caller keeps the original): one caller editing its result never changes another's.
 */
export function copyForJoiner(value: FlightValue): FlightValue {
  if ('shared' in value) return { shared: deliver(value.shared) };
  if ('streamed' in value) {
    const r = value.streamed;
    const streamed: StreamResult = { ...r, usage: { ...r.usage }, attempts: r.attempts.map((a) => ({ ...a })) };
    if (r.json !== undefined) streamed.json = copyJson(r.json, false);
    if (r.toolCalls !== undefined) streamed.toolCalls = copyToolCalls(r.toolCalls);
    return { streamed };
  }
  const copy: ChainSuccess = {
    ...value,
    answer: {
      ...value.answer,
      usage: { ...value.answer.usage },
      ...(value.answer.toolCalls !== undefined ? { toolCalls: copyToolCalls(value.answer.toolCalls) } : {}),
      ...(value.answer.providerMetadata !== undefined ? { providerMetadata: copyJson(value.answer.providerMetadata, false) as Record<string, unknown> } : {}),
    },
    attempts: value.attempts.map((a) => ({ ...a })),
  };
  if (value.json !== undefined) copy.json = copyJson(value.json, false);
  if (value.contextTruncation) copy.contextTruncation = { ...value.contextTruncation, droppedIndexes: [...value.contextTruncation.droppedIndexes] };
  return copy;
}

/** Tool calls of an answer, for a caller of its own. */
export function copyToolCalls(calls: readonly ToolCall[]): ToolCall[] {
  return calls.map((c) => ({ id: c.id, type: c.type, function: { name: c.function.name, arguments: c.function.arguments } }));
}

/**
 * A copy of a JSON value (what `JSON.parse` makes: plain objects, arrays, primitives), frozen when asked. A key
 * named `__proto__` stays an own property, as `JSON.parse` made it (plain assignment would set the prototype).
 */
export function copyJson(value: unknown, freeze: boolean): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyJson(value[i], freeze);
    return freeze ? Object.freeze(out) : out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    const v = copyJson((value as Record<string, unknown>)[k], freeze);
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return freeze ? Object.freeze(out) : out;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const k of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[k]);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
