import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { stableStringify } from '../cache/stable-stringify';
import { RequestError } from '../../errors/request-error';
import type { CompletionRequest } from '../../types';
import { InvalidAnswerError } from '../upstream/classify-error';
import type { UpstreamAnswer } from '../upstream/openai-upstream';
import { newAjv } from './new-ajv';

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
  schemaFn: ValidateFunction | undefined;
  validate: CompletionRequest['validate'];
}

/**
 * Whether an answer is usable; throws `InvalidAnswerError` (a failed attempt: the next model is tried,
 * the breaker counts it, nothing is cached) when it is cut by the token limit, does not parse or match
 * the schema, or the user's `validate` hook says no. Returns the parsed JSON when a schema was given.
 */
export async function checkAnswer(answer: UpstreamAnswer, modelName: string, rules: AnswerRules): Promise<{ json?: unknown }> {
  const { json } = checkAnswerShape(answer, rules);
  if (rules.validate) {
    let ok: boolean;
    try {
      ok = await rules.validate(rules.schemaFn ? { text: answer.text, json, model: modelName } : { text: answer.text, model: modelName });
    } catch (err) {
      throw new InvalidAnswerError(`validate() threw: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`);
    }
    if (ok !== true) throw new InvalidAnswerError('validate() rejected the answer');
  }
  return rules.schemaFn ? { json } : {};
}

/** The synchronous checks (finish reason, schema); the hot path when there is no `validate` hook. */
export function checkAnswerShape(answer: UpstreamAnswer, rules: Pick<AnswerRules, 'acceptTruncated' | 'schemaFn'>): { json?: unknown } {
  if (answer.finishReason === 'length' && !rules.acceptTruncated) throw new InvalidAnswerError('answer cut by the token limit (finish_reason: length)');
  if (answer.finishReason === 'content_filter') throw new InvalidAnswerError('answer withheld by the provider\'s content filter');
  let json: unknown;
  if (rules.schemaFn) {
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw new InvalidAnswerError('answer is not valid JSON');
    }
    if (!rules.schemaFn(json)) {
      const why = (rules.schemaFn.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
      throw new InvalidAnswerError(`answer does not match the schema: ${why.join('; ')}`);
    }
  }
  return rules.schemaFn ? { json } : {};
}
