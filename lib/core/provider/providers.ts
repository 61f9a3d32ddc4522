import type { ResolvedModel } from '../options/resolve-options';
import type { NormalizedRequest } from '../request/normalize-request';
import { unlessAborted } from '../signals';
import { InvalidAnswerError } from '../validation/invalid-answer';
import { answerOf, capTokens, countedUsage, OpenAIUpstream, type StreamPiece, type UpstreamAnswer } from '../upstream/openai-upstream';
import type { ChatProvider, ProviderAnswer, ProviderCall, ProviderMessage, ProviderStreamPart, ProviderUsage } from './chat-provider';

/**
 * Every model's provider, made once for the chain: a model's own `ChatProvider`, or the OpenAI-compatible one
 * (the openai SDK, one client per model). Attempts call a model through here and get the library's answer shape
 * back whatever the provider; what the provider returns is checked like any answer from the network.
 */
export class Providers {
  /** The OpenAI-compatible models' clients; null when every model has a provider of its own. */
  readonly #openai: OpenAIUpstream | null;

  constructor(models: readonly ResolvedModel[], fetchImpl?: typeof globalThis.fetch) {
    this.#openai = models.some((m) => m.provider === undefined) ? new OpenAIUpstream(models, fetchImpl) : null;
  }

  /**
   * One call. For an OpenAI-compatible model, the SDK's promise of the raw completion (turned into an answer by
   * `answerOf`, in the caller's `.then`: one promise layer fewer on the hot path); for a model's own provider, its
   * promise, which ends when `signal` fires even if the provider does not notice it.
   */
  create(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): Promise<unknown> {
    const provider = model.provider;
    if (provider === undefined) return (this.#openai as OpenAIUpstream).create(model, req, messages, signal);
    return unlessAborted(Promise.resolve(provider.complete(providerCall(model, req, messages, signal))), signal);
  }

  /** What `create` resolved with, as the library's answer; throws `InvalidAnswerError` for anything unusable. */
  answerOf(raw: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
    return model.provider === undefined ? answerOf(raw, model, messages) : providerAnswer(raw, model, messages);
  }

  /** A streamed call as pieces: text deltas, then the finish reason and usage. */
  stream(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncIterable<StreamPiece> {
    const provider = model.provider;
    if (provider === undefined) return (this.#openai as OpenAIUpstream).stream(model, req, messages, signal);
    return providerStream(provider, model, providerCall(model, req, messages, signal), messages, signal);
  }

  /** Closes the OpenAI-compatible clients' transport and every model's own provider that has `close()`. */
  async close(models: readonly ResolvedModel[]): Promise<void> {
    const own = new Set(models.map((m) => m.provider).filter((p): p is ChatProvider => p !== undefined));
    await Promise.all([this.#openai?.close(), ...[...own].map((p) => Promise.resolve().then(() => p.close?.()).catch(() => undefined))]);
  }
}

/** The call a provider gets: the model's id and name, the messages, the request's parameters and the signal. */
function providerCall(model: ResolvedModel, req: NormalizedRequest, messages: NormalizedRequest['messages'], signal: AbortSignal): ProviderCall {
  const call: ProviderCall = { model: model.model, name: model.name, messages: messages as unknown as readonly ProviderMessage[], signal };
  const maxTokens = capTokens(req.maxTokens, model.maxOutputTokens);
  if (maxTokens !== undefined) call.maxTokens = maxTokens;
  if (req.temperature !== undefined) call.temperature = req.temperature;
  if (req.topP !== undefined) call.topP = req.topP;
  if (req.stop !== undefined) call.stop = req.stop;
  if (req.seed !== undefined) call.seed = req.seed;
  if (req.responseFormat !== undefined) call.responseFormat = req.responseFormat;
  return call;
}

/** A provider's answer, checked as an answer from the network is: anything else is a failed attempt. */
function providerAnswer(raw: unknown, model: ResolvedModel, messages: NormalizedRequest['messages']): UpstreamAnswer {
  if (raw === null || typeof raw !== 'object') throw new InvalidAnswerError('the provider answered something that is not an object');
  const a = raw as Partial<ProviderAnswer>;
  const text = a.text ?? '';
  if (typeof text !== 'string') throw new InvalidAnswerError('the provider answered a text that is not a string');
  if (typeof a.finishReason !== 'string' || a.finishReason === '') throw new InvalidAnswerError('the provider answered without a finish reason');
  const usage = usageOf(a.usage) ?? countedUsage(messages, text);
  return { text, finishReason: a.finishReason, providerModel: typeof a.providerModel === 'string' && a.providerModel !== '' ? a.providerModel : model.model, usage };
}

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
 */
async function* providerStream(provider: ChatProvider, model: ResolvedModel, call: ProviderCall, messages: NormalizedRequest['messages'], signal: AbortSignal): AsyncGenerator<StreamPiece> {
  if (!provider.stream) {
    const answer = providerAnswer(await unlessAborted(Promise.resolve(provider.complete(call)), signal), model, messages);
    if (answer.text !== '') yield { delta: answer.text, providerModel: answer.providerModel };
    yield { finishReason: answer.finishReason, usage: answer.usage, providerModel: answer.providerModel };
    return;
  }
  const it = provider.stream(call)[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const step = await unlessAborted(Promise.resolve(it.next()), signal);
      if (step.done) {
        done = true;
        return;
      }
      yield pieceOf(step.value);
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
  if (part.type === 'finish') {
    if (typeof part.finishReason !== 'string' || part.finishReason === '') throw new InvalidAnswerError('the provider streamed a finish part without a finish reason');
    const piece: StreamPiece = { finishReason: part.finishReason };
    const usage = usageOf(part.usage);
    if (usage) piece.usage = usage;
    if (typeof part.providerModel === 'string' && part.providerModel !== '') piece.providerModel = part.providerModel;
    return piece;
  }
  throw new InvalidAnswerError('the provider streamed a part of an unknown type');
}
