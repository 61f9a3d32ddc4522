import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { platformSignal, unlessAborted } from '../signals';
import { InvalidAnswerError } from '../validation/invalid-answer';
import { capTokens, countedUsage, schemaFormat, type StreamPiece, type UpstreamAnswer } from './answer';
import type { ToolCall } from '../../types';
import { type ChatProvider, isProviderFinishReason, type ProviderToolCall, PROVIDER_FINISH_REASONS, type ProviderAnswer, type ProviderCall, type ProviderMessage, type ProviderStreamPart, type ProviderUsage } from './chat-provider';
import type { DefaultProvider, DefaultProviderFactory } from './provider-port';

/**
 * Every model's provider, made once for the chain: a model's own `ChatProvider`, or the default provider (made by
 * the factory the chain is given: the OpenAI-compatible one, in the library). Attempts call a model through here
 * and get the library's answer shape back whatever the provider; what the provider returns is checked like any
 * answer from the network.
 */
export class Providers {
  /** The default provider of the models without one of their own; null when every model has a provider of its own. */
  readonly #default: DefaultProvider | null;

  constructor(models: readonly ResolvedModel[], fetchImpl: typeof globalThis.fetch | undefined, defaultProvider: DefaultProviderFactory) {
    this.#default = models.some((m) => m.provider === undefined) ? defaultProvider(models, fetchImpl) : null;
  }

  /**
   * One call. For a model of the default provider, that provider's promise of its raw answer (turned into an answer
   * by `answerOf`, in the caller's `.then`: one promise layer fewer on the hot path); for a model's own provider,
   * its promise, which ends when `signal` fires even if the provider does not notice it.
   */
  create(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): Promise<unknown> {
    const provider = model.provider;
    if (provider === undefined) return (this.#default as DefaultProvider).create(model, req, messages, signal);
    return unlessAborted(Promise.resolve(provider.complete(providerCall(model, req, messages, signal))), signal);
  }

  /** What `create` resolved with, as the library's answer; throws `InvalidAnswerError` for anything unusable. */
  answerOf(raw: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
    return model.provider === undefined ? (this.#default as DefaultProvider).answerOf(raw, model, messages) : providerAnswer(raw, model, messages);
  }

  /** What `create` rejected with (or threw), as the neutral failure `classifyError` reads (a `ChatProvider`'s as is). */
  failureOf(model: ResolvedModel, err: unknown): unknown {
    return model.provider === undefined && this.#default ? this.#default.failureOf(err) : err;
  }

  /** A streamed call as pieces: text deltas, then the finish reason and usage. */
  stream(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncIterable<StreamPiece> {
    const provider = model.provider;
    if (provider === undefined) return (this.#default as DefaultProvider).stream(model, req, messages, signal);
    return providerStream(provider, model, providerCall(model, req, messages, signal), messages, signal);
  }

  /** Closes the default provider's connections and every model's own provider that has `close()`. */
  async close(models: readonly ResolvedModel[]): Promise<void> {
    const own = new Set(models.map((m) => m.provider).filter((p): p is ChatProvider => p !== undefined));
    await Promise.all([this.#default?.close(), ...[...own].map((p) => Promise.resolve().then(() => p.close?.()).catch(() => undefined))]);
  }
}

/** The call a provider gets: the model's id and name, the messages, the request's parameters and the signal. */
function providerCall(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): ProviderCall {
  const call: ProviderCall = { model: model.model, name: model.name, messages: messages as unknown as readonly ProviderMessage[], signal: platformSignal(signal) };
  const maxTokens = capTokens(req.maxTokens, model.maxOutputTokens);
  if (maxTokens !== undefined) call.maxTokens = maxTokens;
  if (req.temperature !== undefined) call.temperature = req.temperature;
  if (req.topP !== undefined) call.topP = req.topP;
  if (req.stop !== undefined) call.stop = req.stop;
  if (req.seed !== undefined) call.seed = req.seed;
  const responseFormat = req.responseFormat ?? (req.schema ? schemaFormat(req.schema) : undefined);
  if (responseFormat !== undefined) call.responseFormat = responseFormat;
  if (req.tools !== undefined) call.tools = req.tools;
  if (req.toolChoice !== undefined) call.toolChoice = req.toolChoice;
  if (req.parallelToolCalls !== undefined) call.parallelToolCalls = req.parallelToolCalls;
  if (req.providerOptions !== undefined) call.providerOptions = req.providerOptions;
  return call;
}

/** A provider's tool call, checked as one from the network is: anything else is `malformed`. */
function toolCallOf(raw: unknown): ToolCall {
  const t = raw as Partial<ProviderToolCall> | null;
  const fn = t?.function;
  if (t === null || typeof t !== 'object' || typeof t.id !== 'string' || t.id === '' || typeof fn?.name !== 'string' || typeof fn.arguments !== 'string') {
    throw new InvalidAnswerError('the provider answered a tool call without an id, a function name or string arguments');
  }
  return { id: t.id, type: 'function', function: { name: fn.name, arguments: fn.arguments } };
}


/** A provider's answer, checked as an answer from the network is: anything else is a failed attempt. */
function providerAnswer(raw: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
  if (raw === null || typeof raw !== 'object') throw new InvalidAnswerError('the provider answered something that is not an object');
  const a = raw as Partial<ProviderAnswer>;
  const text = a.text ?? '';
  if (typeof text !== 'string') throw new InvalidAnswerError('the provider answered a text that is not a string');
  if (a.finishReason === undefined || a.finishReason === null || (a.finishReason as unknown) === '') throw new InvalidAnswerError('the provider answered without a finish reason');
  if (!isProviderFinishReason(a.finishReason)) throw new InvalidAnswerError(UNKNOWN_FINISH('answered'));
  const usage = usageOf(a.usage) ?? countedUsage(messages, text);
  const answer: UpstreamAnswer = { text, finishReason: a.finishReason, providerModel: typeof a.providerModel === 'string' && a.providerModel !== '' ? a.providerModel : model.model, usage };
  if (a.toolCalls !== undefined && a.toolCalls !== null) {
    if (!Array.isArray(a.toolCalls)) throw new InvalidAnswerError('the provider answered toolCalls that is not an array');
    if (a.toolCalls.length > 0) answer.toolCalls = a.toolCalls.map(toolCallOf);
  }
  if (a.refusal !== undefined && a.refusal !== null) {
    if (typeof a.refusal !== 'string') throw new InvalidAnswerError('the provider answered a refusal that is not a string');
    if (a.refusal !== '') answer.refusal = a.refusal;
  }
  return answer;
}

/** The message for a finish reason outside `PROVIDER_FINISH_REASONS` (the provider's value is not repeated). */
const UNKNOWN_FINISH = (verb: string): string => `the provider ${verb} a finish reason that is not one of ${PROVIDER_FINISH_REASONS.join(', ')}`;

/** Reported usage, if it is usable: whole, finite, non-negative counts. */
function usageOf(u: ProviderUsage | undefined): UpstreamAnswer['usage'] | null {
  if (u === undefined || u === null || typeof u !== 'object') return null;
  const count = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (!count(u.promptTokens) || !count(u.completionTokens)) return null;
  return { promptTokens: u.promptTokens, completionTokens: u.completionTokens, totalTokens: count(u.totalTokens) ? u.totalTokens : u.promptTokens + u.completionTokens };
}

/**
 * A provider's stream as the library's pieces; a provider without `stream()` answers in one piece. Each step ends
 * when `signal` fires even if the provider does not notice it (and the provider's iterator is then told to stop).
 * The `finish` part is the last: a part after it fails the attempt (`InvalidAnswerError`) before anything of it is
 * passed on.
 */
async function* providerStream(provider: ChatProvider, model: ResolvedModel, call: ProviderCall, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncGenerator<StreamPiece> {
  if (!provider.stream) {
    const answer = providerAnswer(await unlessAborted(Promise.resolve(provider.complete(call)), signal), model, messages);
    if (answer.text !== '') yield { delta: answer.text, providerModel: answer.providerModel };
    for (const toolCall of answer.toolCalls ?? []) yield { toolCall };
    if (answer.refusal !== undefined) yield { refusal: answer.refusal };
    yield { finishReason: answer.finishReason, usage: answer.usage, providerModel: answer.providerModel };
    return;
  }
  const it = provider.stream(call)[Symbol.asyncIterator]();
  let done = false;
  let finished = false;
  try {
    for (;;) {
      const step = await unlessAborted(Promise.resolve(it.next()), signal);
      if (step.done) {
        done = true;
        return;
      }
      if (finished) throw new InvalidAnswerError('the provider streamed a part after its finish part');
      const piece = pieceOf(step.value);
      if (piece.finishReason !== undefined) finished = true;
      yield piece;
    }
  } finally {
    // a consumer that stopped, a timeout or a failure: the provider's stream is told to end (not awaited)
    if (!done) void Promise.resolve().then(() => it.return?.()).catch(() => undefined);
  }
}

function pieceOf(part: ProviderStreamPart): StreamPiece {
  if (part === null || typeof part !== 'object') throw new InvalidAnswerError('the provider streamed a part that is not an object');
  if (part.type === 'text') {
    if (typeof part.text !== 'string') throw new InvalidAnswerError('the provider streamed a text part without a string');
    return part.text === '' ? {} : { delta: part.text };
  }
  if (part.type === 'tool-call') return { toolCall: toolCallOf(part.toolCall) };
  if (part.type === 'refusal') {
    if (typeof part.refusal !== 'string') throw new InvalidAnswerError('the provider streamed a refusal part without a string');
    return part.refusal === '' ? {} : { refusal: part.refusal };
  }
  if (part.type === 'finish') {
    if (part.finishReason === undefined || part.finishReason === null || (part.finishReason as unknown) === '') throw new InvalidAnswerError('the provider streamed a finish part without a finish reason');
    if (!isProviderFinishReason(part.finishReason)) throw new InvalidAnswerError(UNKNOWN_FINISH('streamed'));
    const piece: StreamPiece = { finishReason: part.finishReason };
    const usage = usageOf(part.usage);
    if (usage) piece.usage = usage;
    if (typeof part.providerModel === 'string' && part.providerModel !== '') piece.providerModel = part.providerModel;
    return piece;
  }
  throw new InvalidAnswerError('the provider streamed a part of an unknown type');
}
