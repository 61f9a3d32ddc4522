import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { stableStringify } from '../cache/stable-stringify';
import { RequestError } from '../../errors/request-error';
import type { CompletionRequest } from '../../types';
import type { ResolvedModel } from '../options/resolve-options';
import type { UpstreamAnswer } from '../upstream/openai-upstream';
import type { FailureClass } from '../fallback/attempt-failure';
import { countsTowardBreaker, InvalidAnswerError } from './invalid-answer';
import { newAjv } from './new-ajv';
import { copyJson } from '../cache/answer-copies';

// One ajv for user schemas, separate from our own options/request schemas; made by the first schema a request brings.
let userAjv: Ajv | undefined;
function ajv(): Ajv {
  userAjv ??= newAjv({ allErrors: true, strict: false });
  return userAjv;
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
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  let fn = byObject.get(schema);
  if (fn) return fn;
  try {
    const content = stableStringify(schema); // throws on a cyclic object, as ajv would
    fn = byContent.get(content);
    if (!fn) {
      try {
        fn = ajv().compile(schema);
      } finally {
        forget(schema);
      }
      byContent.set(content, fn);
    }
  } catch (err) {
    const detail = `/schema: ${err instanceof Error ? err.message : 'is not a valid JSON Schema'}`;
    throw new RequestError(`Invalid LLM request: ${detail}`, [detail]);
  }
  byObject.set(schema, fn);
  return fn;
}

function forget(schema: Record<string, unknown>): void {
  try {
    ajv().removeSchema(schema);
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
}

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
export function checkAnswerShape(
  answer: UpstreamAnswer,
  model: Pick<ResolvedModel, 'maxOutputTokens'>,
  rules: Pick<AnswerRules, 'acceptTruncated' | 'maxTokens' | 'stop' | 'schemaFn'>,
): { json?: unknown } {
  const finish = answer.finishReason;
  if (finish === 'content_filter') throw new InvalidAnswerError('answer withheld by the provider\'s content filter', 'content_filter');
  if (finish === 'length') {
    // a cut answer may be empty (a first token that is blank, or a reasoning model that spent the limit thinking)
    if (!cutAccepted(rules, model)) throw new InvalidAnswerError('answer cut by the token limit (finish_reason: length)', 'truncated');
  } else if (answer.text.trim() === '') {
    throw new InvalidAnswerError('response content is empty', finish === 'stop' && hasStop(rules.stop) ? 'stopped_empty' : 'empty');
  }
  let json: unknown;
  if (rules.schemaFn) {
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw new InvalidAnswerError('answer is not valid JSON', 'not_json');
    }
    if (!rules.schemaFn(json)) {
      const why = (rules.schemaFn.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
      throw new InvalidAnswerError(`answer does not match the schema: ${why.join('; ')}`, 'schema_mismatch');
    }
  }
  return rules.schemaFn ? { json } : {};
}

/**
 * A `validate` hook that had not settled when the attempt's time ran out: the attempt is a `timeout` (the next
 * model is tried), but the hook is the request's, so it is not the model's failure (`validate_timeout`).
 */
export function hookTimedOut(message: string): FailureClass {
  return { outcome: 'timeout', countsAsFailure: countsTowardBreaker('validate_timeout'), fallThrough: true, callerAborted: false, message };
}

function hasStop(stop: string | string[] | undefined): boolean {
  return typeof stop === 'string' ? stop !== '' : Array.isArray(stop) && stop.length > 0;
}
