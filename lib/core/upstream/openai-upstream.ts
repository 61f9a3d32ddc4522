import type OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { ConfigError } from '../../errors/config-error';
import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { loadTokenizer, promptTokens as promptTokensOf, tokenizerInstalled } from '../request/prompt-size';
import { InvalidAnswerError } from './classify-error';
import { openaiSdk } from './openai-sdk';
import { type UpstreamTransport, undiciTransport } from './undici-transport';

/** A usable answer from one provider call. */
export interface UpstreamAnswer {
  text: string;
  finishReason: string;
  providerModel: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/**
 * The only module that talks to providers. One SDK client per model, created at start-up,
 * with `maxRetries: 0`: every attempt is exactly one HTTP request, bounded by our own AbortSignal.
 */
export class OpenAIUpstream {
  readonly #clients = new Map<string, OpenAI>();
  /** The default transport (see `undiciTransport`), when the app gave no `fetch` of its own. */
  readonly #transport: UpstreamTransport | null;

  constructor(models: readonly ResolvedModel[], fetchImpl?: typeof globalThis.fetch) {
    // models with a provider of their own are not this one's (their index is kept, for the error's path)
    const problems = models.flatMap((m, i) =>
      m.provider === undefined && m.apiKey === undefined && !process.env.OPENAI_API_KEY
        ? [{ path: `/models/${i}/apiKey`, message: 'is required when OPENAI_API_KEY is not set' }]
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
   * One call: the SDK's own promise of the parsed completion (rejects with the SDK's typed errors; callers also
   * guard a synchronous throw). `answerOf` turns what it resolves with into an answer, in the caller's `.then`:
   * one promise layer fewer for every request in flight.
   */
  create(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): Promise<unknown> {
    const body: ChatCompletionCreateParamsNonStreaming = buildBody(model, req, messages);
    // No per-call `timeout` (the client's backstop, one duration per model, keeps the SDK's timers in one list) and
    // no per-call `maxRetries` (the client's is 0): the SDK copies its request options on every call, even with
    // logging off, so each key it need not read costs (about 1.5 µs per request for `maxRetries`, measured).
    return this.#client(model).chat.completions.create(body, { signal });
  }

  /**
   * A streamed completion as pieces: text deltas, then the finish reason and usage. Errors before the
   * first byte reject the first `next()`; errors mid-stream (a cut connection) reject a later one.
   */
  async *stream(
    model: ResolvedModel,
    req: NormalizedRequest,
    messages: NormalizedRequest['messages'],
    signal: AbortSignal,
  ): AsyncGenerator<StreamPiece> {
    const body: ChatCompletionCreateParamsStreaming = { ...buildBody(model, req, messages), stream: true, stream_options: { include_usage: true } };
    const stream = await this.#client(model).chat.completions.create(body, { signal });
    for await (const chunk of stream) {
      const c = chunk as { model?: unknown; choices?: unknown; usage?: unknown } | null;
      if (c === null || typeof c !== 'object') throw new InvalidAnswerError('stream chunk is not a JSON object');
      const piece: StreamPiece = {};
      if (typeof c.model === 'string') piece.providerModel = c.model;
      const choice = Array.isArray(c.choices) ? (c.choices[0] as { delta?: { content?: unknown }; finish_reason?: unknown } | undefined) : undefined;
      if (typeof choice?.delta?.content === 'string' && choice.delta.content !== '') piece.delta = choice.delta.content;
      if (typeof choice?.finish_reason === 'string') piece.finishReason = choice.finish_reason;
      const u = c.usage as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null | undefined;
      if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
        piece.usage = { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens + u.completion_tokens };
      }
      yield piece;
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

/** Usage counted with the tokenizer, for providers that do not report it (zero when gpt-tokenizer is not installed). */
export function countedUsage(messages: NormalizedRequest['messages'], text: string): UpstreamAnswer['usage'] {
  if (!tokenizerInstalled()) return { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const promptTokens = promptTokensOf(messages);
  const completionTokens = loadTokenizer()(text);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** One piece of a streamed answer. */
export interface StreamPiece {
  delta?: string;
  finishReason?: string;
  usage?: UpstreamAnswer['usage'];
  providerModel?: string;
}

function buildBody(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages']): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = { model: model.model, messages };
  const maxTokens = capTokens(req.maxTokens, model.maxOutputTokens);
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.responseFormat !== undefined) body.response_format = req.responseFormat as ChatCompletionCreateParamsNonStreaming['response_format'];
  return body;
}

export function capTokens(requested: number | undefined, cap: number | undefined): number | undefined {
  if (cap === undefined) return requested;
  return requested === undefined ? cap : Math.min(requested, cap);
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
  const c = completion as { choices?: unknown; model?: unknown; usage?: unknown };
  if (!Array.isArray(c.choices) || c.choices.length === 0) throw new InvalidAnswerError('response has no choices');
  const choice = c.choices[0] as { message?: { content?: unknown }; finish_reason?: unknown } | null;
  // no content at all (null) is an empty answer: whether that is usable, and whose doing it is (a cut, a content
  // filter, the request's stop sequence, or the provider), is the answer check's call
  const content = choice?.message?.content ?? '';
  if (typeof content !== 'string') throw new InvalidAnswerError('response has no text content');
  const u = (c.usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown };
  const promptTokens = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  const completionTokens = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0;
  return {
    text: content,
    finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : 'unknown',
    providerModel: typeof c.model === 'string' ? c.model : requestedModel,
    usage: {
      promptTokens,
      completionTokens,
      totalTokens: typeof u.total_tokens === 'number' ? u.total_tokens : promptTokens + completionTokens,
    },
  };
}
