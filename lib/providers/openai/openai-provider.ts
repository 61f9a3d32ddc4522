import type OpenAI from 'openai';
import type { ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { ConfigError } from '../../errors/config-error';
import type { ResolvedModel } from '../../core/options/resolve-options';
import { type AnswerChoice, countedUsage, type StreamPiece, type UpstreamAnswer } from '../../core/provider/answer';
import type { DefaultProvider, DefaultProviderFactory } from '../../core/provider/provider-port';
import type { NormalizedRequest } from '../../core/request/normalize-request';
import type { ToolCall } from '../../types';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';
import { openaiFailure } from './openai-errors';
import { openaiRequest } from './openai-request';
import { openaiSdk } from './openai-sdk';
import { type UpstreamTransport, undiciTransport } from './undici-transport';

/**
 * The default provider: every model without a provider of its own, at any OpenAI-compatible endpoint, through the
 * openai SDK. One SDK client per model, created at start-up, with `maxRetries: 0`: every attempt is exactly one
 * HTTP request, bounded by our own AbortSignal.
 */
export class OpenAIProvider implements DefaultProvider {
  readonly #clients = new Map<string, OpenAI>();
  /** The default transport (see `undiciTransport`), when the app gave no `fetch` of its own. */
  readonly #transport: UpstreamTransport | null;

  constructor(models: readonly ResolvedModel[], fetchImpl?: typeof globalThis.fetch) {
    // models with a provider of their own are not this one's (their index is kept, for the error's path)
    const paths = optionPaths(models);
    const problems = models.flatMap((m, i) =>
      m.provider === undefined && m.apiKey === undefined && !process.env.OPENAI_API_KEY
        ? [{ path: `${paths[i]}/apiKey`, message: 'is required when OPENAI_API_KEY is not set' }]
        : [],
    );
    if (problems.length > 0) throw new ConfigError(problems);
    // close() lets calls in flight end by their own timeout: the longest any model has
    const own = models.filter((m) => m.provider === undefined);
    this.#transport = fetchImpl ? null : undiciTransport(Math.max(...own.map((m) => m.timeoutMs)));
    const fetch = fetchImpl ?? this.#transport?.fetch;
    for (const m of own) {
      this.#clients.set(
        m.name,
        new (openaiSdk().OpenAI)({
          apiKey: m.apiKey ?? process.env.OPENAI_API_KEY,
          baseURL: m.baseURL ?? process.env.OPENAI_BASE_URL ?? undefined,
          maxRetries: 0,
          // Our AbortSignal bounds each attempt; this is only a backstop.
          timeout: Math.max(m.timeoutMs * 2, 30_000),
          // Also keeps the SDK from logging bodies with partly redacted keys (its 'debug' level).
          logLevel: 'off',
          fetch,
        }),
      );
    }
  }

  /**
   * One call: the SDK's own promise of the parsed completion (rejects with the SDK's typed errors, which
   * `failureOf` maps; callers also guard a synchronous throw). `answerOf` turns what it resolves with into an
   * answer, in the caller's `.then`: one promise layer fewer for every request in flight.
   */
  create(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): Promise<unknown> {
    // No per-call `timeout` (the client's backstop, one duration per model, keeps the SDK's timers in one list) and
    // no per-call `maxRetries` (the client's is 0): the SDK copies its request options on every call, even with
    // logging off, so each key it need not read costs (about 1.5 µs per request for `maxRetries`, measured).
    return this.#client(model).chat.completions.create(openaiRequest(model, req, messages), { signal });
  }

  answerOf(completion: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
    return answerOf(completion, model, messages);
  }

  failureOf(err: unknown): unknown {
    return openaiFailure(err);
  }

  /**
   * A streamed completion as pieces: text deltas, then the finish reason and usage. Errors before the
   * first byte reject the first `next()`; errors mid-stream (a cut connection) reject a later one.
   */
  async *stream(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncGenerator<StreamPiece> {
    const body: ChatCompletionCreateParamsStreaming = { ...openaiRequest(model, req, messages), stream: true, stream_options: { include_usage: true } };
    try {
      const stream = await this.#client(model).chat.completions.create(body, { signal });
      const calls = new ToolCallAssembly();
      for await (const chunk of stream) {
        const pieces = piecesOf(chunk, calls);
        if (pieces.length === 1) yield pieces[0];
        else yield* pieces;
      }
    } catch (err) {
      throw openaiFailure(err);
    }
  }

  #client(model: ResolvedModel): OpenAI {
    const client = this.#clients.get(model.name);
    if (!client) throw new Error(`no client for model "${model.name}"`);
    return client;
  }

  /** Closes the default transport's connections (an app's own `fetch` is left alone). */
  close(): Promise<void> {
    this.#clients.clear();
    return this.#transport?.close() ?? Promise.resolve();
  }
}

/** The default provider's factory that the top-level engine hands the core. */
export const openaiProvider: DefaultProviderFactory = (models, fetchImpl) => new OpenAIProvider(models, fetchImpl);

/**
 * Tool calls being streamed, by index: OpenAI sends a call's id and name first, then its arguments in pieces; a
 * call is handed on whole, when the answer's finish reason arrives (its arguments may only be judged whole).
 */
class ToolCallAssembly {
  readonly #calls: { id: string; name: string; arguments: string }[] = [];

  add(deltas: unknown): void {
    if (!Array.isArray(deltas)) throw new InvalidAnswerError('stream chunk has tool_calls that is not an array');
    for (const d of deltas as ({ index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } } | null)[]) {
      const index = typeof d?.index === 'number' ? d.index : this.#calls.length;
      if (!Number.isInteger(index) || index < 0 || index > 127) throw new InvalidAnswerError('stream chunk has a tool call with a bad index');
      const call = (this.#calls[index] ??= { id: '', name: '', arguments: '' });
      if (typeof d?.id === 'string' && d.id !== '') call.id = d.id;
      if (typeof d?.function?.name === 'string') call.name += d.function.name;
      if (typeof d?.function?.arguments === 'string') call.arguments += d.function.arguments;
    }
  }

  /** The whole calls, in order; a call left without an id or a name is `malformed`. */
  take(): ToolCall[] {
    const calls = this.#calls.splice(0);
    return calls.map((c) => {
      if (c === undefined || c.id === '' || c.name === '') throw new InvalidAnswerError('a streamed tool call lacks an id or a function name');
      return { id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } };
    });
  }

  get pending(): boolean {
    return this.#calls.length > 0;
  }
}

/**
 * One chunk of a streamed completion as pieces (none, one, or the whole tool calls before the finish); a chunk that
 * is not an object is an `InvalidAnswerError`.
 */
function piecesOf(chunk: unknown, calls: ToolCallAssembly): StreamPiece[] {
  const c = chunk as { model?: unknown; choices?: unknown; usage?: unknown; error?: unknown } | null;
  if (c === null || typeof c !== 'object') throw new InvalidAnswerError('stream chunk is not a JSON object');
  const piece: StreamPiece = {};
  if (typeof c.model === 'string') piece.providerModel = c.model;
  const choice = Array.isArray(c.choices)
    ? (c.choices[0] as { delta?: { content?: unknown; refusal?: unknown; tool_calls?: unknown }; finish_reason?: unknown } | undefined)
    : undefined;
  const delta = choice?.delta;
  if (typeof delta?.content === 'string' && delta.content !== '') piece.delta = delta.content;
  if (typeof delta?.refusal === 'string' && delta.refusal !== '') piece.refusal = delta.refusal;
  if (delta?.tool_calls !== undefined && delta.tool_calls !== null) {
    calls.add(delta.tool_calls);
    piece.active = true;
  }
  const u = c.usage as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null | undefined;
  if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
    piece.usage = { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens + u.completion_tokens };
  }
  if (typeof choice?.finish_reason !== 'string') return [piece];
  piece.finishReason = choice.finish_reason;
  if (!calls.pending) return [piece];
  return [...calls.take().map((toolCall): StreamPiece => ({ toolCall })), piece];
}

/**
 * A usable answer from what the provider sent, or an `InvalidAnswerError` (a failed attempt). Usage the provider
 * did not report is counted with the tokenizer.
 */
export function answerOf(completion: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
  const answer = readAnswer(completion, model.model);
  if (answer.usage.totalTokens === 0) answer.usage = countedUsage(messages, answer.text);
  return answer;
}

/** Checks the shape of a completion; anything unusable is an `InvalidAnswerError` (a failed attempt). */
function readAnswer(completion: unknown, requestedModel: string): UpstreamAnswer {
  if (completion === null || typeof completion !== 'object') throw new InvalidAnswerError('response is not a JSON object');
  const c = completion as { choices?: unknown; model?: unknown; usage?: unknown; system_fingerprint?: unknown; service_tier?: unknown };
  if (!Array.isArray(c.choices) || c.choices.length === 0) throw new InvalidAnswerError('response has no choices');
  const choice = c.choices[0] as { message?: { content?: unknown; refusal?: unknown; tool_calls?: unknown; audio?: unknown }; finish_reason?: unknown; logprobs?: unknown } | null;
  // no content at all (null) is an empty answer: whether that is usable, and whose doing it is (a cut, a content
  // filter, the request's stop sequence, or the provider), is the answer check's call
  const content = choice?.message?.content ?? '';
  if (typeof content !== 'string') throw new InvalidAnswerError('response has no text content');
  const u = (c.usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown };
  const promptTokens = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  const completionTokens = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0;
  const answer: UpstreamAnswer = {
    text: content,
    finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : 'unknown',
    providerModel: typeof c.model === 'string' ? c.model : requestedModel,
    usage: {
      promptTokens,
      completionTokens,
      totalTokens: typeof u.total_tokens === 'number' ? u.total_tokens : promptTokens + completionTokens,
    },
  };
  const calls = choice?.message?.tool_calls;
  if (calls !== undefined && calls !== null) answer.toolCalls = toolCallsOf(calls);
  const refusal = choice?.message?.refusal;
  if (typeof refusal === 'string' && refusal !== '') answer.refusal = refusal;
  const meta: Record<string, unknown> = {};
  if (choice?.logprobs !== undefined && choice.logprobs !== null) meta.logprobs = choice.logprobs;
  if (typeof c.system_fingerprint === 'string') meta.system_fingerprint = c.system_fingerprint;
  if (typeof c.service_tier === 'string') meta.service_tier = c.service_tier;
  if (choice?.message?.audio !== undefined && choice.message.audio !== null) meta.audio = choice.message.audio;
  if (Object.keys(meta).length > 0) answer.providerMetadata = meta;
  if (c.choices.length > 1) answer.moreChoices = c.choices.slice(1).map(choiceOf);
  return answer;
}

/** One more choice (`n > 1`), read as the first is. */
function choiceOf(raw: unknown): AnswerChoice {
  const choice = raw as { message?: { content?: unknown; refusal?: unknown; tool_calls?: unknown }; finish_reason?: unknown; logprobs?: unknown } | null;
  const content = choice?.message?.content ?? '';
  if (typeof content !== 'string') throw new InvalidAnswerError('a choice has no text content');
  const c: AnswerChoice = { text: content, finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : 'unknown' };
  const calls = choice?.message?.tool_calls;
  if (calls !== undefined && calls !== null) c.toolCalls = toolCallsOf(calls);
  const refusal = choice?.message?.refusal;
  if (typeof refusal === 'string' && refusal !== '') c.refusal = refusal;
  if (choice?.logprobs !== undefined && choice.logprobs !== null) c.logprobs = choice.logprobs;
  return c;
}

/** `message.tool_calls` as the library's tool calls; a call without an id, a function name or string arguments is `malformed`. */
function toolCallsOf(raw: unknown): ToolCall[] {
  if (!Array.isArray(raw)) throw new InvalidAnswerError('tool_calls is not an array');
  return raw.map((t: { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null) => {
    const fn = t?.function;
    if (typeof t?.id !== 'string' || t.id === '' || typeof fn?.name !== 'string' || typeof fn.arguments !== 'string') {
      throw new InvalidAnswerError('a tool call lacks an id, a function name or its arguments');
    }
    return { id: t.id, type: 'function', function: { name: fn.name, arguments: fn.arguments } };
  });
}

/**
 * Where each chain entry was configured: `/models/<i>`, or `/models/<i>/deployments/<j>` for a deployment (the
 * deployments of a model are contiguous in the chain, in their configured order).
 */
function optionPaths(models: readonly ResolvedModel[]): string[] {
  let i = -1;
  let j = 0;
  return models.map((m, k) => {
    const prev = models[k - 1];
    if (m.deployment && prev?.deployment?.group === m.deployment.group) j++;
    else {
      i++;
      j = 0;
    }
    return m.deployment ? `/models/${i}/deployments/${j}` : `/models/${i}`;
  });
}
