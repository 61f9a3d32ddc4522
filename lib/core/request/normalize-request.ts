import type { ValidateFunction } from 'ajv';
import { RequestError } from '../../errors/request-error';
import type { ChatMessage, CompletionRequest, ProviderOptions, ResponseFormat, ToolChoice, ToolDefinition } from '../../types';
import type { ResolvedModel } from '../options/resolve-options';
import { compileSchema } from '../validation/answer-check';
import { jsonProblem } from './json-problem';
import { promptChars, promptTokens } from './prompt-size';
import { ownValidator } from '../validation/own-validators';

/** The app-wide defaults and limits a request is normalised against. */
export interface RequestPolicy {
  readonly maxPromptChars: number | undefined;
  readonly maxPromptTokens: number | undefined;
  readonly deadlineMs: number | undefined;
  readonly truncate: false | 'oldest';
  readonly acceptTruncated: boolean;
  readonly midStream: 'error' | 'continue';
  readonly onRefusal: 'return' | 'fallback';
}

const NO_POLICY: RequestPolicy = {
  maxPromptChars: undefined,
  maxPromptTokens: undefined,
  deadlineMs: undefined,
  truncate: false,
  acceptTruncated: false,
  midStream: 'error',
  onRefusal: 'return',
};

/** A validated request, ready for the chain. */
export interface NormalizedRequest {
  readonly messages: ChatMessage[];
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly stop: string | string[] | undefined;
  readonly seed: number | undefined;
  /** The caller's own format (a `schema`'s structured output is each provider's to spell). */
  readonly responseFormat: ResponseFormat | undefined;
  /** The models to try, in order. */
  readonly chain: readonly ResolvedModel[];
  readonly timeoutMs: number | undefined;
  readonly useCache: boolean;
  readonly signal: AbortSignal | undefined;
  readonly task: string | undefined;
  readonly deadlineMs: number | undefined;
  /** The caller's JSON Schema (also part of the cache key) and its compiled validator. */
  readonly schema: Record<string, unknown> | undefined;
  readonly schemaFn: ValidateFunction | undefined;
  readonly validate: CompletionRequest['validate'];
  readonly truncate: false | 'oldest';
  readonly acceptTruncated: boolean;
  readonly midStream: 'error' | 'continue';
  /** The caller kept this request out of the semantic cache. */
  readonly semanticOptOut: boolean;
  readonly maxCostUsd: number | undefined;
  readonly tools: readonly ToolDefinition[] | undefined;
  /** Each offered tool's argument validator (ajv, compiled once per distinct schema), by name; null: no `parameters`. */
  readonly toolValidators: ReadonlyMap<string, ValidateFunction | null> | undefined;
  readonly toolChoice: ToolChoice | undefined;
  readonly parallelToolCalls: boolean | undefined;
  readonly onRefusal: 'return' | 'fallback';
  readonly providerOptions: ProviderOptions | undefined;
  /**
   * The answer must be JSON (`responseFormat` `json_object`), or match `schemaFn` (a `schema`, or a `json_schema`
   * format's schema): anything else is `invalid` and the next model is tried.
   */
  readonly jsonOnly: boolean;
}

/**
 * The request schema's validator: built into the package, or (run from the sources) compiled once for the
 * process, by the first chain made (so that the first request does not pay for it).
 */
export function requestValidator(): ValidateFunction {
  return ownValidator('request');
}

/** The names a request's `models` may give: each model's, and each deployment's. */
function configuredNames(models: readonly ResolvedModel[]): string[] {
  const names: string[] = [];
  for (const m of models) {
    if (m.deployment && !names.includes(m.deployment.group)) names.push(m.deployment.group);
    names.push(m.name);
  }
  return names;
}

/** Validates a request; throws a `RequestError` (400) naming every problem. */
export function normalizeRequest(
  request: CompletionRequest,
  models: readonly ResolvedModel[],
  policy: RequestPolicy = NO_POLICY,
  defaultTask?: string,
): NormalizedRequest {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new RequestError('The request must be an object with `messages` or `prompt`', ['(root): must be an object']);
  }
  const details: string[] = [];
  const validate = requestValidator();
  if (!validate(request)) {
    for (const e of validate.errors ?? []) {
      const path = e.instancePath || '(root)';
      if (e.keyword === 'additionalProperties') details.push(`${path}: unknown field "${String(e.params.additionalProperty)}"`);
      else if (e.keyword !== 'anyOf' && e.keyword !== 'if') details.push(`${path}: ${e.message ?? 'is invalid'}`);
    }
  }
  const hasMessages = request.messages !== undefined;
  const hasPrompt = request.prompt !== undefined;
  if (hasMessages === hasPrompt) details.push('(root): give exactly one of `messages` or `prompt`');
  if (request.signal !== undefined && !(request.signal instanceof AbortSignal)) details.push('/signal: must be an AbortSignal');
  if (request.validate !== undefined && typeof request.validate !== 'function') details.push('/validate: must be a function (result) => boolean');

  let chain: readonly ResolvedModel[] = models;
  if (request.models !== undefined && Array.isArray(request.models)) {
    const picked: ResolvedModel[] = [];
    for (const name of request.models) {
      // a model with deployments: all of them (or one, by its `<model>/<deployment>` name)
      const found = models.filter((x) => x.name === name || x.deployment?.group === name);
      if (found.length === 0) details.push(`/models: unknown model "${String(name).slice(0, 100)}" (configured: ${configuredNames(models).join(', ')})`);
      for (const m of found) if (!picked.includes(m)) picked.push(m);
    }
    chain = picked;
  }
  if (details.length === 0) jsonProblems(request, details);
  const toolValidators = details.length === 0 && request.tools !== undefined ? toolsProblems(request, details) : undefined;
  if (details.length === 0 && request.tools === undefined) toolChoiceWithoutTools(request.toolChoice, details);
  if (details.length > 0) {
    throw new RequestError(`Invalid LLM request: ${details.join('; ')}`, details);
  }
  const messages: ChatMessage[] = hasMessages ? (request.messages as ChatMessage[]) : [{ role: 'user', content: request.prompt as string }];
  checkSize(messages, policy);
  const schema = request.schema;
  const format = request.responseFormat;
  // a json_schema format's schema is checked as a `schema` is (the format is still sent as the caller wrote it)
  const formatSchema = schema === undefined && format?.type === 'json_schema' ? format.json_schema?.schema : undefined;
  const schemaFn = schema !== undefined ? compileSchema(schema) : formatSchema !== undefined ? compileSchema(formatSchema, '/responseFormat/json_schema/schema') : undefined;
  return {
    messages,
    maxTokens: request.maxTokens,
    temperature: request.temperature,
    topP: request.topP,
    stop: request.stop,
    seed: request.seed,
    responseFormat: request.responseFormat,
    chain,
    timeoutMs: request.timeoutMs,
    useCache: request.cache !== false,
    signal: request.signal,
    task: request.task ?? defaultTask,
    deadlineMs: request.deadlineMs ?? policy.deadlineMs,
    schema,
    schemaFn,
    validate: request.validate,
    truncate: request.truncate ?? policy.truncate,
    acceptTruncated: request.acceptTruncated ?? policy.acceptTruncated,
    midStream: request.midStream ?? policy.midStream,
    semanticOptOut: request.semanticCache === false,
    maxCostUsd: request.maxCostUsd,
    tools: request.tools,
    toolValidators,
    toolChoice: request.toolChoice,
    parallelToolCalls: request.parallelToolCalls,
    onRefusal: request.onRefusal ?? policy.onRefusal,
    providerOptions: request.providerOptions,
    jsonOnly: schemaFn !== undefined || format?.type === 'json_object',
  };
}

/**
 * Checks the offered tools (names unique, each `parameters` a JSON Schema ajv compiles, a named `toolChoice`
 * among them) and returns each tool's argument validator by name; problems go to `details`.
 */
function toolsProblems(request: CompletionRequest, details: string[]): Map<string, ValidateFunction | null> {
  const validators = new Map<string, ValidateFunction | null>();
  const tools = request.tools ?? [];
  tools.forEach((tool, i) => {
    const name = tool.function.name;
    if (validators.has(name)) {
      details.push(`/tools/${i}/function/name: "${name}" is offered twice`);
      return;
    }
    const problem = jsonProblem(tool.function.parameters, `/tools/${i}/function/parameters`);
    if (problem) {
      details.push(problem);
      return;
    }
    try {
      validators.set(name, tool.function.parameters === undefined ? null : compileSchema(tool.function.parameters, `/tools/${i}/function/parameters`));
    } catch (err) {
      details.push(...(err instanceof RequestError ? err.details : [`/tools/${i}/function/parameters: is not a valid JSON Schema`]));
    }
  });
  const choice = request.toolChoice;
  if (typeof choice === 'object' && choice !== null && !validators.has(choice.function.name)) {
    details.push(`/toolChoice/function/name: "${choice.function.name.slice(0, 64)}" is not one of the offered tools`);
  }
  if (choice === 'required' && tools.length === 0) details.push('/toolChoice: "required" needs at least one tool');
  return validators;
}

/** A `toolChoice` that needs tools, on a request without any. */
function toolChoiceWithoutTools(choice: ToolChoice | undefined, details: string[]): void {
  if (choice === 'required' || (typeof choice === 'object' && choice !== null)) details.push('/toolChoice: needs `tools` (no tool is offered)');
}

/** What the request sends that JSON cannot carry (see `jsonProblem`), one detail per field. */
function jsonProblems(request: CompletionRequest, details: string[]): void {
  const messages = request.messages;
  if (messages) {
    for (let i = 0; i < messages.length; i++) {
      const problem = jsonProblem(messages[i], '/messages', i);
      if (problem) details.push(problem);
    }
  }
  const format = jsonProblem(request.responseFormat, '/responseFormat');
  if (format) details.push(format);
  const schema = jsonProblem(request.schema, '/schema');
  if (schema) details.push(schema);
}

function checkSize(messages: readonly ChatMessage[], limits: RequestPolicy): void {
  if (limits.maxPromptChars !== undefined) {
    const chars = promptChars(messages);
    if (chars > limits.maxPromptChars) {
      const detail = `prompt has ${chars} characters; the limit is ${limits.maxPromptChars}`;
      throw new RequestError(`Prompt too large: ${detail}`, [detail], { status: 413 });
    }
  }
  if (limits.maxPromptTokens !== undefined) {
    const tokens = promptTokens(messages);
    if (tokens > limits.maxPromptTokens) {
      const detail = `prompt has ${tokens} tokens; the limit is ${limits.maxPromptTokens}`;
      throw new RequestError(`Prompt too large: ${detail}`, [detail], { status: 413 });
    }
  }
}
