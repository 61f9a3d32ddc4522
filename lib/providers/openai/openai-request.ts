import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { capTokens, schemaFormat } from '../../core/provider/answer';
import type { ResolvedModel } from '../../core/options/resolve-options';
import type { NormalizedRequest } from '../../core/request/normalize-request';

/**
 * The body of one chat completion call: the model's id, the messages (the library's messages are OpenAI's, as
 * their type promises), the request's parameters (`maxTokens` capped to the model's `maxOutputTokens`) and its
 * structured-output format: the caller's `responseFormat`, else a `json_schema` format for a request's `schema`.
 */
export function openaiRequest(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages']): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = { model: model.model, messages: messages as ChatCompletionMessageParam[] };
  const maxTokens = capTokens(req.maxTokens, model.maxOutputTokens);
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  const format = req.responseFormat ?? (req.schema ? schemaFormat(req.schema) : undefined);
  if (format !== undefined) body.response_format = format as ChatCompletionCreateParamsNonStreaming['response_format'];
  if (req.tools !== undefined) body.tools = req.tools as ChatCompletionCreateParamsNonStreaming['tools'];
  if (req.toolChoice !== undefined) body.tool_choice = req.toolChoice;
  if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  const extra = req.providerOptions?.openai;
  if (extra !== undefined) passThrough(body as unknown as Record<string, unknown>, extra);
  return body;
}

/** What the library itself decides of every call: never taken from `providerOptions.openai`. */
const OWN_FIELDS = new Set(['model', 'messages', 'stream', 'stream_options']);

/**
 * `providerOptions.openai` into the body, unchanged (a parameter OpenAI adds next passes too). `max_completion_tokens`
 * replaces `max_tokens` (reasoning models refuse `max_tokens`); the request's `maxTokens` still plans the call.
 */
function passThrough(body: Record<string, unknown>, extra: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(extra)) {
    if (OWN_FIELDS.has(key) || value === undefined) continue;
    // defined as an own field: a `__proto__` key must not set the body's prototype
    Object.defineProperty(body, key, { value, enumerable: true, writable: true, configurable: true });
  }
  if (body.max_completion_tokens !== undefined) delete body.max_tokens;
}
