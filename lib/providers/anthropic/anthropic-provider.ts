import type Anthropic from '@anthropic-ai/sdk';
import { ConfigError, type ConfigProblem } from '../../errors/config-error';
import type { ChatProvider, ProviderAnswer, ProviderCall, ProviderStreamPart } from '../../core/provider/chat-provider';
import { anthropicAnswer } from './anthropic-answer';
import { anthropicFailure } from './anthropic-errors';
import { anthropicRequest, type AnthropicRequestSettings } from './anthropic-messages';
import { anthropicSdk } from './anthropic-sdk';
import { anthropicStream } from './anthropic-stream';

/** Options of `anthropicProvider()`. */
export interface AnthropicProviderOptions {
  /** Default: `process.env.ANTHROPIC_API_KEY` (one of them is required). */
  apiKey?: string;
  /** Default: the SDK's (`ANTHROPIC_BASE_URL`, else `https://api.anthropic.com`). The SDK calls `<baseURL>/v1/messages`. */
  baseURL?: string;
  /** The `fetch` the SDK uses. Default: the SDK's (the global `fetch`). */
  fetch?: typeof globalThis.fetch;
  /**
   * `max_tokens` of a call that sets no `maxTokens` (and whose model has no `maxOutputTokens`): Anthropic requires
   * one on every request. Default: 4096.
   */
  defaultMaxTokens?: number;
  /**
   * How a request's JSON `schema` is asked for. `'native'` (the default): Anthropic's structured outputs
   * (`output_config.format`), which constrain the answer to the schema. `'instruction'`: a system instruction with
   * the schema, for models or gateways without structured outputs. The library validates the answer either way.
   */
  structuredOutputs?: 'native' | 'instruction';
  /**
   * Whether a request's `temperature` and `topP` are sent. `'omit'` (the default): they are left out, since the
   * API version the SDK speaks (2026-10-21) refuses any sampling parameter with a 400, which would fail the
   * request instead of trying the next model. `'send'`: sent (`temperature` clamped to Anthropic's 0..1), for a
   * gateway or an API version that takes them.
   */
  sampling?: 'omit' | 'send';
  /**
   * The SDK's own timeout per request, a backstop only: the library's AbortSignal ends every call first.
   * Default: 10 minutes (a long answer streamed).
   */
  timeoutMs?: number;
  /** A name for error messages. Default: `'anthropic'`. */
  name?: string;
}

/** The default `max_tokens` (Anthropic requires one; most Claude models can write more, few answers need more). */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

/**
 * A `ChatProvider` for Anthropic's Messages API through the official `@anthropic-ai/sdk` (an optional peer
 * dependency, loaded here). One SDK client, made now, with `maxRetries: 0`: every attempt is exactly one HTTP
 * request, which the call's signal cancels; retrying, falling back and timing out are the library's.
 *
 * Requests are OpenAI-shaped and mapped onto the Messages API (see `anthropicRequest`), answers and errors back
 * (see `anthropicAnswer`, `anthropicFailure`).
 */
export function anthropicProvider(options: AnthropicProviderOptions = {}): ChatProvider {
  const name = options.name ?? 'anthropic';
  const apiKey = options.apiKey ?? process.env.ANTHROPIC_API_KEY;
  const problems: ConfigProblem[] = [];
  if (apiKey === undefined || apiKey === '') problems.push({ path: `/${name}/apiKey`, message: 'is required when ANTHROPIC_API_KEY is not set' });
  const maxTokens = options.defaultMaxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) problems.push({ path: `/${name}/defaultMaxTokens`, message: 'must be a whole number ≥ 1' });
  const structuredOutputs = options.structuredOutputs ?? 'native';
  if (structuredOutputs !== 'native' && structuredOutputs !== 'instruction') problems.push({ path: `/${name}/structuredOutputs`, message: "must be 'native' or 'instruction'" });
  const sampling = options.sampling ?? 'omit';
  if (sampling !== 'omit' && sampling !== 'send') problems.push({ path: `/${name}/sampling`, message: "must be 'omit' or 'send'" });
  if (problems.length > 0) throw new ConfigError(problems);
  const settings: AnthropicRequestSettings = { defaultMaxTokens: maxTokens, structuredOutputs, sampling };

  let client: Anthropic | null = new (anthropicSdk().Anthropic)({
    apiKey,
    baseURL: options.baseURL,
    fetch: options.fetch,
    maxRetries: 0,
    timeout: options.timeoutMs ?? 600_000,
    // also keeps the SDK from logging request bodies at its 'debug' level
    logLevel: 'off',
  });
  const open = (): Anthropic => {
    if (!client) throw new Error(`the ${name} provider is closed`);
    return client;
  };

  return {
    // Claude's tokenizer counts about 10–25 % more than o200k_base on English, more on code: 1.3 with a margin
    promptTokenScale: 1.3,
    async complete(call: ProviderCall): Promise<ProviderAnswer> {
      const body = anthropicRequest(call, settings);
      let message: Anthropic.Message;
      try {
        message = await open().messages.create(body, { signal: call.signal });
      } catch (err) {
        throw anthropicFailure(err, call.signal);
      }
      return anthropicAnswer(message);
    },

    async *stream(call: ProviderCall): AsyncGenerator<ProviderStreamPart> {
      const body: Anthropic.MessageCreateParamsStreaming = { ...anthropicRequest(call, settings), stream: true };
      let events: AsyncIterable<Anthropic.RawMessageStreamEvent>;
      try {
        events = await open().messages.create(body, { signal: call.signal });
      } catch (err) {
        throw anthropicFailure(err, call.signal);
      }
      yield* anthropicStream(events, call);
    },

    /**
     * Forgets the client: the SDK keeps no connections of its own (the `fetch` it uses does, and an app's own
     * `fetch` is the app's); calls in flight end by their signals.
     */
    close(): void {
      client = null;
    },
  };
}
