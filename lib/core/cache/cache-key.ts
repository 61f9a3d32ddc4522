import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { sha256 } from '../sha256';
import { stableStringify } from './stable-stringify';

/**
 * The cache key covers everything that changes an answer: the chain (names and provider ids), messages,
 * temperature, topP, maxTokens, stop, seed, responseFormat, the answer schema, the tools offered, `toolChoice`, `parallelToolCalls`, the parameters passed through (`providerOptions`), `truncate: 'oldest'` (an answer
 * to a prompt trimmed to fit a model is not one to the whole prompt), and the tenant scope. An omitted temperature
 * is `null`, not 0 (the API's default is 1). The key is a SHA-256, so no prompt text sits in keys or events.
 *
 * It is the hash of `stableStringify({ v: 1, scope, messages, ...answerParameters(req) })`, written out directly
 * (a cache miss computes one on every request: the generic walk and a hash object cost most of a miss's CPU).
 * The tests check that both give the same key.
 */
export function cacheKey(req: NormalizedRequest, scope: string): string {
  return sha256(keyJson(req, scope, false));
}

/**
 * Everything the cache key covers but the last message's text: the key's own JSON with that one text left
 * out (the rest of that message, its `name` included, stays). The semantic cache partitions by it, so two
 * requests meet there only when they differ in nothing but the wording of the prompt, whatever the key
 * comes to cover later.
 */
export function keyWithoutPrompt(req: NormalizedRequest, scope: string): string {
  return sha256(keyJson(req, scope, true));
}

/** What stands for the last message's text in `keyWithoutPrompt` (no message content is an object). */
const LEFT_OUT = Object.freeze({ leftOut: 'prompt' });
const PROMPT_LEFT_OUT = stableStringify(LEFT_OUT);

function keyJson(req: NormalizedRequest, scope: string, withoutPrompt: boolean): string {
  // the keys of that object, sorted: chain maxTokens messages (parallelToolCalls) (providerOptions) responseFormat
  // schema scope seed stop temperature (toolChoice) (tools) topP (truncate) v; those in brackets only when given
  return (
    `{"chain":${chainJson(req.chain)},"maxTokens":${orNull(req.maxTokens)},"messages":${messagesJson(req.messages, withoutPrompt)}` +
    `${ifGiven('parallelToolCalls', req.parallelToolCalls)}${ifGiven('providerOptions', req.providerOptions)}` +
    `,"responseFormat":${orNull(req.responseFormat)},"schema":${orNull(req.schema)},"scope":${JSON.stringify(scope)}` +
    `,"seed":${orNull(req.seed)},"stop":${orNull(req.stop)},"temperature":${orNull(req.temperature)}` +
    `${ifGiven('toolChoice', req.toolChoice)}${ifGiven('tools', req.tools)}` +
    `,"topP":${orNull(req.topP)}${req.truncate === 'oldest' ? ',"truncate":"oldest"' : ''},"v":1}`
  );
}

/** `,"name":<stable JSON>` for a parameter that is given; nothing otherwise (the keys of other requests stay). */
const ifGiven = (name: string, v: unknown): string => (v === undefined ? '' : `,"${name}":${stableStringify(v)}`);

/**
 * The tenant scope as the cache keys it: a string (a finite number is its decimal text; none is one scope
 * for all, ''). Anything else is refused, loudly: a Promise (an `async` scope function) or an object would
 * put every tenant in the same scope, and tenants must never share an entry.
 */
export function scopeOf(scope: unknown): string {
  if (typeof scope === 'string') return scope;
  if (scope === undefined || scope === null) return '';
  if (typeof scope === 'number' && Number.isFinite(scope)) return String(scope);
  const got = scope instanceof Promise ? 'a Promise (an async scope function is not supported)' : `a value of type ${typeof scope}`;
  throw new TypeError(`koa-llm-resilience: the cache scope must be a string, but scope() returned ${got}`);
}

/** Everything but the messages that changes an answer, as an object (the key above is its JSON, written out). */
export function answerParameters(req: NormalizedRequest): Record<string, unknown> {
  const params: Record<string, unknown> = {
    chain: req.chain.map(chainEntry),
    maxTokens: req.maxTokens ?? null,
    temperature: req.temperature ?? null,
    topP: req.topP ?? null,
    stop: req.stop ?? null,
    seed: req.seed ?? null,
    responseFormat: req.responseFormat ?? null,
    schema: req.schema ?? null,
  };
  // only when on (or given), so that the keys of every other request stay what they were
  if (req.truncate === 'oldest') params.truncate = 'oldest';
  if (req.tools !== undefined) params.tools = req.tools;
  if (req.toolChoice !== undefined) params.toolChoice = req.toolChoice;
  if (req.parallelToolCalls !== undefined) params.parallelToolCalls = req.parallelToolCalls;
  if (req.providerOptions !== undefined) params.providerOptions = req.providerOptions;
  return params;
}

/** SHA-256 (base64url) of the stable JSON of `value`. */
export function hashOf(value: unknown): string {
  return sha256(stableStringify(value));
}

const chainEntry = (m: ResolvedModel): string => `${m.name}\u0000${m.model}`;

/** Each configured model lives as long as the app: its entry's JSON is made once. */
const entryJsonOf = new WeakMap<ResolvedModel, string>();
function chainJson(chain: readonly ResolvedModel[]): string {
  let out = '[';
  for (let i = 0; i < chain.length; i++) {
    let json = entryJsonOf.get(chain[i]);
    if (json === undefined) {
      json = stableStringify(chainEntry(chain[i]));
      entryJsonOf.set(chain[i], json);
    }
    out += i > 0 ? `,${json}` : json;
  }
  return `${out}]`;
}

const orNull = (v: unknown): string => (v === undefined ? 'null' : stableStringify(v));

/**
 * The messages' stable JSON; a message of only `role`, string `content` and `name` is written out directly.
 * `withoutPrompt` writes the last message with `PROMPT_LEFT_OUT` in place of its content.
 */
function messagesJson(messages: NormalizedRequest['messages'], withoutPrompt: boolean): string {
  let out = '[';
  const last = messages.length - 1;
  for (let i = 0; i <= last; i++) {
    const m = messages[i] as unknown as Record<string, unknown>;
    if (i > 0) out += ',';
    out += withoutPrompt && i === last ? messageWithoutContentJson(m) : (plainMessageJson(m) ?? stableStringify(m));
  }
  return `${out}]`;
}

function plainMessageJson(m: Record<string, unknown>, contentJson?: string): string | undefined {
  for (const k in m) {
    if (!Object.prototype.hasOwnProperty.call(m, k)) return undefined;
    if (k !== 'role' && k !== 'content' && k !== 'name') return undefined;
  }
  const { role, content, name } = m;
  if (typeof role !== 'string' || typeof content !== 'string' || (name !== undefined && typeof name !== 'string')) return undefined;
  // sorted: content, name, role (an undefined member is left out, as JSON does)
  return `{"content":${contentJson ?? JSON.stringify(content)}${name === undefined ? '' : `,"name":${JSON.stringify(name)}`},"role":${JSON.stringify(role)}}`;
}

/** A message's stable JSON with `PROMPT_LEFT_OUT` for its content: every other member as the key writes it. */
function messageWithoutContentJson(m: Record<string, unknown>): string {
  const plain = plainMessageJson(m, PROMPT_LEFT_OUT);
  if (plain !== undefined) return plain;
  return stableStringify({ ...m, content: LEFT_OUT });
}
