import { type ChatProvider, type ProviderAnswer, type ProviderCall, ProviderError, type ProviderFinishReason, type ProviderStreamPart } from '../core/provider/chat-provider';

/**
 * What one call does. Steps are taken in order, one per call; when they run out, `fallback` (the default step)
 * answers every further call.
 */
export type MemoryStep =
  /** Answers (after `latencyMs`). `text` may be a function of the call. */
  | { kind?: 'answer'; text?: string | ((call: ProviderCall) => string); finishReason?: ProviderFinishReason; latencyMs?: number; usage?: ProviderAnswer['usage']; providerModel?: string }
  /** Throws a `ProviderError` with this status (after `latencyMs`): 429 with `retryAfterMs`, 500, 400, … */
  | { kind: 'fail'; status: number; retryAfterMs?: number; code?: string; message?: string; latencyMs?: number }
  /** Throws a plain error (a connection reset, a bug in the provider): an `error` outcome. */
  | { kind: 'throw'; message?: string; latencyMs?: number }
  /** Never answers; ends only when the call's signal fires. */
  | { kind: 'hang' }
  /** Streams: sends the first `afterChars` characters of `text`, then fails with `status` (or a plain error). */
  | { kind: 'cut'; text?: string; afterChars: number; status?: number; latencyMs?: number };

export interface MemoryProviderOptions {
  /** Steps taken one per call, in order. */
  steps?: MemoryStep[];
  /** What every call does once `steps` are used up. Default: answers `"answer from <model>"` at once. */
  fallback?: MemoryStep;
  /** Streams: characters per text part. Default 4. */
  chunkChars?: number;
  /** Streams: pause between text parts, in ms. Default 0. */
  chunkDelayMs?: number;
  /** Whether the provider has `stream()` (without it the library streams the answer as one piece). Default true. */
  streams?: boolean;
}

/** What the provider saw of one call. */
export interface MemoryCallRecord {
  model: string;
  name: string;
  messages: ProviderCall['messages'];
  maxTokens: number | undefined;
  stream: boolean;
  /** Whether the call's signal fired before it ended. */
  aborted: boolean;
  /** `'answered'`, `'failed'` or `'aborted'` once it ended; `'running'` until then. */
  state: 'running' | 'answered' | 'failed' | 'aborted';
}

/** A scriptable in-memory `ChatProvider` for tests: latency, failures and answers, honouring `signal`. */
export interface MemoryProvider extends ChatProvider {
  /** Every call, in order. */
  readonly calls: readonly MemoryCallRecord[];
  /** Calls not yet ended. */
  readonly inFlight: number;
  /** Appends steps to the script. */
  push(...steps: MemoryStep[]): void;
  /** Replaces the default step. */
  setFallback(step: MemoryStep): void;
}

/** Creates a scriptable in-memory provider (see `MemoryStep`). */
export function memoryProvider(options: MemoryProviderOptions = {}): MemoryProvider {
  const steps = [...(options.steps ?? [])];
  let fallback: MemoryStep = options.fallback ?? {};
  const chunkChars = Math.max(1, options.chunkChars ?? 4);
  const chunkDelayMs = Math.max(0, options.chunkDelayMs ?? 0);
  const calls: MemoryCallRecord[] = [];
  let inFlight = 0;

  const begin = (call: ProviderCall, stream: boolean): { step: MemoryStep; record: MemoryCallRecord } => {
    const record: MemoryCallRecord = { model: call.model, name: call.name, messages: call.messages, maxTokens: call.maxTokens, stream, aborted: false, state: 'running' };
    calls.push(record);
    inFlight++;
    return { step: steps.length > 0 ? (steps.shift() as MemoryStep) : fallback, record };
  };
  const end = (record: MemoryCallRecord, state: MemoryCallRecord['state']): void => {
    if (record.state !== 'running') return;
    record.state = state;
    if (state === 'aborted') record.aborted = true;
    inFlight--;
  };

  const complete = async (call: ProviderCall): Promise<ProviderAnswer> => {
    const { step, record } = begin(call, false);
    try {
      const answer = await perform(step, call);
      end(record, 'answered');
      return answer;
    } catch (err) {
      end(record, call.signal.aborted ? 'aborted' : 'failed');
      throw err;
    }
  };

  async function* stream(call: ProviderCall): AsyncGenerator<ProviderStreamPart> {
    const { step, record } = begin(call, true);
    try {
      if (step.kind === 'cut') {
        await sleep(step.latencyMs ?? 0, call.signal);
        const text = (step.text ?? answerText(call)).slice(0, step.afterChars);
        for (const piece of pieces(text, chunkChars)) {
          yield { type: 'text', text: piece };
          await sleep(chunkDelayMs, call.signal);
        }
        throw step.status !== undefined ? new ProviderError(`provider error ${step.status}`, { status: step.status }) : new Error('connection reset');
      }
      const answer = await perform(step, call);
      for (const piece of pieces(answer.text, chunkChars)) {
        yield { type: 'text', text: piece };
        await sleep(chunkDelayMs, call.signal);
      }
      yield { type: 'finish', finishReason: answer.finishReason, ...(answer.usage ? { usage: answer.usage } : {}), ...(answer.providerModel ? { providerModel: answer.providerModel } : {}) };
      end(record, 'answered');
    } catch (err) {
      end(record, call.signal.aborted ? 'aborted' : 'failed');
      throw err;
    } finally {
      // a consumer that stopped reading ended the call too
      end(record, 'aborted');
    }
  }

  const provider: MemoryProvider = {
    complete,
    get calls() {
      return calls;
    },
    get inFlight() {
      return inFlight;
    },
    push: (...more) => void steps.push(...more),
    setFallback: (step) => {
      fallback = step;
    },
  };
  if (options.streams !== false) provider.stream = stream;
  return provider;
}

async function perform(step: MemoryStep, call: ProviderCall): Promise<ProviderAnswer> {
  switch (step.kind) {
    case 'hang':
      await sleep(Infinity, call.signal);
      throw abortError();
    case 'fail':
      await sleep(step.latencyMs ?? 0, call.signal);
      throw new ProviderError(step.message ?? `provider error ${step.status}`, { status: step.status, ...(step.retryAfterMs !== undefined ? { retryAfterMs: step.retryAfterMs } : {}), ...(step.code !== undefined ? { code: step.code } : {}) });
    case 'throw':
      await sleep(step.latencyMs ?? 0, call.signal);
      throw new Error(step.message ?? 'connection reset');
    case 'cut':
      // outside a stream a cut is a failure after the latency
      await sleep(step.latencyMs ?? 0, call.signal);
      throw step.status !== undefined ? new ProviderError(`provider error ${step.status}`, { status: step.status }) : new Error('connection reset');
    default: {
      await sleep(step.latencyMs ?? 0, call.signal);
      const text = typeof step.text === 'function' ? step.text(call) : (step.text ?? answerText(call));
      const answer: ProviderAnswer = { text, finishReason: step.finishReason ?? 'stop' };
      if (step.usage) answer.usage = step.usage;
      if (step.providerModel) answer.providerModel = step.providerModel;
      return answer;
    }
  }
}

function answerText(call: ProviderCall): string {
  return `answer from ${call.model}`;
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function abortError(): Error {
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

/** Waits `ms` (0: a macrotask turn), or rejects with an `AbortError` as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      reject(abortError());
    };
    const timer = Number.isFinite(ms)
      ? setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, Math.min(ms, 2_147_483_647))
      : undefined;
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
