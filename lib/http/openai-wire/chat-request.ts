import type { ChatMessage, CompletionRequest, ResponseFormat, ToolChoice, ToolDefinition } from '../../types';
import { chainFor } from './model-chain';
import { openAIError, type WireAnswer } from './wire-answer';

/** A valid `chat.completions` body, as the library's request. */
export interface ChatRequest {
  request: CompletionRequest;
  /** The `model` the client asked for (an alias or a model name). */
  model: string;
  stream: boolean;
  /** `stream_options.include_usage`: a usage chunk before `[DONE]`. */
  includeUsage: boolean;
}

const invalid = (message: string, param: string | null): WireAnswer => openAIError(400, message, 'invalid_request_error', null, param);

/** The body fields the gateway maps to the library's own request; every other field is passed through as it is. */
const MAPPED = new Set(['model', 'messages', 'stream', 'stream_options', 'max_tokens', 'temperature', 'top_p', 'stop', 'seed', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls']);

/**
 * A `chat.completions` body as the library's `CompletionRequest` over the chain its `model` names, or the OpenAI
 * error that refuses it: a missing model or messages, a `stream` that is not a boolean, `n > 1` on a stream, the
 * legacy `functions`, an unknown model (404). The request's own fields are checked by the engine (its
 * `RequestError`s are worded by `wireErrorAnswer`). Every Chat Completions parameter the library does not map
 * (`frequency_penalty`, `logprobs`, `n`, `reasoning_effort`, `max_completion_tokens`, `user`, `metadata`, …, and
 * whatever OpenAI adds next) goes to OpenAI-compatible models unchanged, as `providerOptions.openai`.
 */
export function parseChatRequest(body: Record<string, unknown>, models: readonly string[], aliases?: Record<string, string[]>): ChatRequest | { error: WireAnswer } {
  if (typeof body.model !== 'string' || body.model === '') return { error: invalid('you must provide a model parameter', 'model') };
  if (!Array.isArray(body.messages)) return { error: invalid("'messages' is a required property", 'messages') };
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') return { error: invalid("Invalid 'stream': must be a boolean.", 'stream') };
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && (typeof streamOptions !== 'object' || Array.isArray(streamOptions))) {
    return { error: invalid("Invalid 'stream_options': must be an object.", 'stream_options') };
  }
  const n = body.n;
  if (n !== undefined && n !== null && !(Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 128)) return { error: invalid("Invalid 'n': must be an integer from 1 to 128.", 'n') };
  if (body.stream === true && typeof n === 'number' && n > 1) return { error: invalid("'n' greater than 1 is not supported with 'stream': true by this endpoint", 'n') };
  if (body.functions !== undefined && body.functions !== null) return { error: invalid("'functions' is deprecated and not supported by this endpoint: use 'tools'", 'functions') };
  const chain = chainFor(body.model, models, aliases);
  if (!chain) return { error: openAIError(404, `The model '${body.model.slice(0, 100)}' does not exist`, 'invalid_request_error', 'model_not_found', 'model') };

  const request: CompletionRequest = { messages: body.messages as ChatMessage[], models: chain };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) request.maxTokens = maxTokens as number;
  if (body.temperature !== undefined && body.temperature !== null) request.temperature = body.temperature as number;
  if (body.top_p !== undefined && body.top_p !== null) request.topP = body.top_p as number;
  if (body.stop !== undefined && body.stop !== null) request.stop = body.stop as string | string[];
  if (body.seed !== undefined && body.seed !== null) request.seed = body.seed as number;
  if (body.response_format !== undefined && body.response_format !== null) request.responseFormat = body.response_format as ResponseFormat;
  if (body.tools !== undefined && body.tools !== null) request.tools = body.tools as ToolDefinition[];
  if (body.tool_choice !== undefined && body.tool_choice !== null) request.toolChoice = body.tool_choice as ToolChoice;
  if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null) request.parallelToolCalls = body.parallel_tool_calls as boolean;
  const openai: Record<string, unknown> = {};
  for (const key of Object.keys(body)) {
    if (MAPPED.has(key) || body[key] === undefined) continue;
    // an own field even for a `__proto__` key (plain assignment would set the object's prototype)
    Object.defineProperty(openai, key, { value: body[key], enumerable: true, writable: true, configurable: true });
  }
  if (Object.keys(openai).length > 0) request.providerOptions = { openai };
  const includeUsage = (streamOptions as { include_usage?: boolean } | undefined | null)?.include_usage === true;
  return { request, model: body.model, stream: body.stream === true, includeUsage };
}
