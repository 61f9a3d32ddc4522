import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { stableStringify } from '../cache/stable-stringify';
import { RequestError } from '../../errors/request-error';
import type { CompletionRequest, ToolCall, ToolChoice } from '../../types';
import type { ResolvedModel } from '../options/resolve-options';
import type { UpstreamAnswer } from '../provider/answer';
import type { FailureClass } from '../fallback/attempt-failure';
import { countsTowardBreaker, InvalidAnswerError } from './invalid-answer';
import { newAjv } from './new-ajv';
import { copyJson } from '../cache/answer-copies';

// The ajv instances for user schemas, separate from our own options/request schemas, by the JSON Schema dialect a
// schema declares (`$schema`): draft-07 (ajv's default, and for a schema that declares none), draft 2019-09 and
// draft 2020-12 (what zod 4's toJSONSchema writes, as LangChain sends it). Each is made by the first schema of its
// dialect a request brings.
const USER_AJV_OPTIONS = { allErrors: true, strict: false } as const;
const userAjv = new Map<string, Ajv>();
function ajvFor(schema: Record<string, unknown>): Ajv {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  const dialect = declared.includes('2020-12') ? '2020' : declared.includes('2019-09') ? '2019' : '07';
  let a = userAjv.get(dialect);
  if (!a) {
    /* eslint-disable @typescript-eslint/no-require-imports */
    if (dialect === '2020') a = new (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).default(USER_AJV_OPTIONS);
    else if (dialect === '2019') a = new (require('ajv/dist/2019') as typeof import('ajv/dist/2019')).default(USER_AJV_OPTIONS);
    else a = newAjv(USER_AJV_OPTIONS);
    /* eslint-enable @typescript-eslint/no-require-imports */
    userAjv.set(dialect, a);
  }
  return a;
}

/**
 * A schema as its dialect's ajv compiles it: a `$schema` other than the three dialects (draft-04, draft-06, a
 * vendor's URL) is left out, so the schema is read as draft-07 rather than refused for a meta-schema ajv lacks.
 */
function compilable(schema: Record<string, unknown>): Record<string, unknown> {
  const declared = schema.$schema;
  if (declared === undefined || (typeof declared === 'string' && /draft-07|2019-09|2020-12/.test(declared))) return schema;
  const { $schema: _dropped, ...rest } = schema;
  return rest;
}
/** The same schema object again: no lookup by content. */
const byObject = new WeakMap<object, ValidateFunction>();
/**
 * Validators by the schema's content, for the common case of a schema written inline in a route handler (a new
 * object on every request): compiling costs hundreds of µs, so it happens once per distinct schema. Bounded.
 */
const byContent = new LRUCache<string, ValidateFunction>({ max: 256 });

/**
 * Compiles a response schema once per distinct schema; a schema ajv cannot compile is the caller's 400. ajv's own
 * cache is left empty: it keeps every schema object it compiled (a leak when each request brings a new one) and
 * refuses a `$id` it has seen (so a schema with an `$id`, written inline, would fail from its second request on).
 */
export function compileSchema(schema: Record<string, unknown>, path = '/schema'): ValidateFunction {
  let fn = byObject.get(schema);
  if (fn) return fn;
  try {
    const content = stableStringify(schema); // throws on a cyclic object, as ajv would
    fn = byContent.get(content);
    if (!fn) {
      const source = compilable(schema);
      try {
        fn = ajvFor(source).compile(source);
      } finally {
        forget(source);
      }
      byContent.set(content, fn);
    }
  } catch (err) {
    const detail = `${path}: ${err instanceof Error ? err.message : 'is not a valid JSON Schema'}`;
    throw new RequestError(`Invalid LLM request: ${detail}`, [detail]);
  }
  byObject.set(schema, fn);
  return fn;
}

function forget(schema: Record<string, unknown>): void {
  try {
    ajvFor(schema).removeSchema(schema);
  } catch {
    // nothing was added
  }
}

export interface AnswerRules {
  acceptTruncated: boolean;
  /** The request's own limit on the answer's length. */
  maxTokens: number | undefined;
  stop: string | string[] | undefined;
  schemaFn: ValidateFunction | undefined;
  validate: CompletionRequest['validate'];
  /** The answer must be JSON (a `json_object` format) even without a schema. */
  jsonOnly: boolean;
  toolValidators: ReadonlyMap<string, ValidateFunction | null> | undefined;
  toolChoice: ToolChoice | undefined;
  parallelToolCalls: boolean | undefined;
  onRefusal: 'return' | 'fallback';
}

/** The rules of the synchronous checks (see `checkAnswerShape`). */
export type ShapeRules = Pick<AnswerRules, 'acceptTruncated' | 'maxTokens' | 'stop' | 'schemaFn' | 'jsonOnly' | 'toolValidators' | 'toolChoice' | 'parallelToolCalls' | 'onRefusal'>;

/** What the checks need to know of the model that answered. */
export type AnsweringModel = Pick<ResolvedModel, 'name' | 'maxOutputTokens'>;

/**
 * Whether an answer cut by the token limit (`finish_reason: 'length'`) is returned as it is: when the caller
 * accepts truncated answers (`acceptTruncated`), or when the cut is the one the request asked for (its own
 * `maxTokens`, not lowered by the model's `maxOutputTokens`). Such an answer is a success, never cached. Any
 * other cut is `invalid` (the next model may have more room), and not the model's failure either way.
 */
export function cutAccepted(rules: Pick<AnswerRules, 'acceptTruncated' | 'maxTokens'>, model: Pick<ResolvedModel, 'maxOutputTokens'>): boolean {
  if (rules.acceptTruncated) return true;
  const asked = rules.maxTokens;
  return asked !== undefined && (model.maxOutputTokens === undefined || asked <= model.maxOutputTokens);
}

/**
 * Whether an answer is usable; throws `InvalidAnswerError` (a failed attempt: the next model is tried, nothing is
 * cached) when it is empty, withheld, cut by a token limit it may not be, does not parse or match the schema, or
 * the user's `validate` hook says no. Each carries its reason, which decides whether the breaker counts it (see
 * `INVALID_REASONS`). Returns the parsed JSON when a schema was given.
 */
export async function checkAnswer(answer: UpstreamAnswer, model: AnsweringModel, rules: AnswerRules): Promise<{ json?: unknown }> {
  const { json } = checkAnswerShape(answer, model, rules);
  if (rules.validate) {
    let ok: boolean;
    try {
      // the hook gets its own copy of the parsed answer: what it changes is never what the caller (or the cache) gets
      ok = await rules.validate(rules.schemaFn ? { text: answer.text, json: copyJson(json, false), model: model.name } : { text: answer.text, model: model.name });
    } catch (err) {
      throw new InvalidAnswerError(`validate() threw: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`, 'validate_threw');
    }
    if (ok !== true) throw new InvalidAnswerError('validate() rejected the answer', 'validate_rejected');
  }
  return rules.schemaFn ? { json } : {};
}

/** The synchronous checks (finish reason, content, schema); the hot path when there is no `validate` hook. */
export function checkAnswerShape(answer: UpstreamAnswer, model: Pick<ResolvedModel, 'maxOutputTokens'>, rules: ShapeRules): { json?: unknown } {
  // several choices (`n > 1`): each is judged as the first is, and one that fails fails the attempt
  if (answer.moreChoices !== undefined) {
    for (const c of answer.moreChoices) checkAnswerShape({ text: c.text, finishReason: c.finishReason, toolCalls: c.toolCalls, refusal: c.refusal, providerModel: answer.providerModel, usage: answer.usage }, model, rules);
  }
  const finish = answer.finishReason;
  // a refusal is an answer the model gave (no text or JSON to check), unless the request would rather try another model
  if (answer.refusal !== undefined && answer.refusal !== '') {
    if (rules.onRefusal === 'fallback') throw new InvalidAnswerError('the model refused (onRefusal: fallback)', 'refusal');
    return {};
  }
  if (answer.toolCalls !== undefined && answer.toolCalls.length > 0) {
    checkToolCalls(answer.toolCalls, rules);
    // a cut answer's last call cannot be whole: its arguments did not parse above, unless the cut is accepted
    if (finish === 'length' && !cutAccepted(rules, model)) throw new InvalidAnswerError('answer cut by the token limit (finish_reason: length)', 'truncated');
    return {};
  }
  if (finish === 'tool_calls') throw new InvalidAnswerError('finish reason tool_calls without any tool call', 'malformed');
  const choice = rules.toolChoice;
  if (choice === 'required' || (typeof choice === 'object' && choice !== null)) {
    throw new InvalidAnswerError('the answer makes no tool call, and the request requires one (toolChoice)', 'tool_choice_ignored');
  }
  if (finish === 'content_filter') throw new InvalidAnswerError('answer withheld by the provider\'s content filter', 'content_filter');
  if (finish === 'length') {
    // a cut answer may be empty (a first token that is blank, or a reasoning model that spent the limit thinking)
    if (!cutAccepted(rules, model)) throw new InvalidAnswerError('answer cut by the token limit (finish_reason: length)', 'truncated');
  } else if (answer.text.trim() === '') {
    throw new InvalidAnswerError('response content is empty', finish === 'stop' && hasStop(rules.stop) ? 'stopped_empty' : 'empty');
  }
  let json: unknown;
  if (rules.schemaFn || rules.jsonOnly) {
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw new InvalidAnswerError('answer is not valid JSON', 'not_json');
    }
  }
  if (rules.schemaFn) {
    if (!rules.schemaFn(json)) {
      const why = (rules.schemaFn.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
      throw new InvalidAnswerError(`answer does not match the schema: ${why.join('; ')}`, 'schema_mismatch');
    }
  }
  return rules.schemaFn ? { json } : {};
}

/**
 * Whether a cached answer meets, by its content, the rules an answer from the provider must meet to be a success
 * (see `checkAnswerShape`): text that is not blank, and for a request with a schema, `json` present, accepted by
 * the schema, and the JSON its text says. An answer that does not would have been a failed attempt (`invalid`),
 * so a cache entry that does not is a miss. (The request's own `validate` hook is applied to hits separately.)
 * Depends on nothing but what the cache key covers, so an entry it refuses is refused by every request that reads it.
 */
export function servableAnswer(answer: { readonly text: string; readonly json?: unknown }, rules: Pick<AnswerRules, 'schemaFn'>): boolean {
  if (answer.text.trim() === '') return false;
  const schemaFn = rules.schemaFn;
  if (!schemaFn) return true;
  if (answer.json === undefined) return false;
  let said: unknown;
  try {
    said = JSON.parse(answer.text);
  } catch {
    return false;
  }
  try {
    return schemaFn(answer.json) === true && stableStringify(said) === stableStringify(answer.json);
  } catch {
    // nested too deep to check
    return false;
  }
}

/**
 * A `validate` hook that had not settled when the attempt's time ran out: the attempt is a `timeout` (the next
 * model is tried), but the hook is the request's, so it is not the model's failure (`validate_timeout`).
 */
export function hookTimedOut(message: string): FailureClass {
  return { outcome: 'timeout', countsAsFailure: countsTowardBreaker('validate_timeout'), fallThrough: true, callerAborted: false, message };
}

/**
 * Each tool call names an offered tool, its arguments are a JSON object that matches that tool's `parameters`, and
 * the calls are what `toolChoice` and `parallelToolCalls` allow; else `InvalidAnswerError`.
 */
function checkToolCalls(calls: readonly ToolCall[], rules: ShapeRules): void {
  const tools = rules.toolValidators;
  const choice = rules.toolChoice;
  if (choice === 'none') throw new InvalidAnswerError('the answer makes a tool call, and the request allows none (toolChoice: none)', 'tool_choice_ignored');
  if (rules.parallelToolCalls === false && calls.length > 1) {
    throw new InvalidAnswerError(`the answer makes ${calls.length} tool calls, and the request allows one (parallelToolCalls: false)`, 'tool_choice_ignored');
  }
  for (const call of calls) {
    const name = call.function.name;
    const shown = JSON.stringify(name.slice(0, 64));
    if (tools === undefined || !tools.has(name)) throw new InvalidAnswerError(`tool call to ${shown}, which the request does not offer`, 'unknown_tool');
    if (typeof choice === 'object' && choice !== null && choice.function.name !== name) {
      throw new InvalidAnswerError(`tool call to ${shown}, and the request requires ${JSON.stringify(choice.function.name)} (toolChoice)`, 'tool_choice_ignored');
    }
    let args: unknown;
    try {
      args = JSON.parse(call.function.arguments);
    } catch {
      throw new InvalidAnswerError(`the arguments of the tool call to ${shown} are not JSON`, 'tool_arguments_not_json');
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new InvalidAnswerError(`the arguments of the tool call to ${shown} are not a JSON object`, 'tool_arguments_not_json');
    const fn = tools.get(name);
    if (fn && !fn(args)) {
      const why = (fn.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
      throw new InvalidAnswerError(`the arguments of the tool call to ${shown} do not match its parameters: ${why.join('; ')}`, 'tool_arguments_mismatch');
    }
  }
}

function hasStop(stop: string | string[] | undefined): boolean {
  return typeof stop === 'string' ? stop !== '' : Array.isArray(stop) && stop.length > 0;
}
