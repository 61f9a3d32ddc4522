import { RequestAbortedError } from '../../errors/request-aborted-error';
import type { AttemptRecord, StreamPart, StreamResult } from '../../types';

/**
 * A streamed answer: iterate it for text deltas (once); `result` resolves when the stream has ended, with
 * model, attempts, usage and latency, or rejects with the error that ended it. Breaking out of the loop
 * cancels the upstream request (not counted against the model).
 */
export class LlmStream implements AsyncIterable<string> {
  readonly result: Promise<StreamResult>;
  readonly #gen: AsyncGenerator<string, StreamResult>;
  #resolve!: (r: StreamResult) => void;
  #reject!: (err: unknown) => void;
  #iterated = false;
  readonly #attempts: readonly AttemptRecord[];

  /** `attempts`: the list the generator records its attempts into (an abandoned stream's error carries it). */
  constructor(gen: AsyncGenerator<string, StreamResult>, attempts: readonly AttemptRecord[] = []) {
    this.#gen = gen;
    this.#attempts = attempts;
    this.result = new Promise<StreamResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Callers that only iterate must not get an unhandled rejection from `result`.
    this.result.catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string, void> {
    if (this.#iterated) throw new TypeError('an LlmStream can be iterated once');
    this.#iterated = true;
    let settled = false;
    try {
      for (;;) {
        const step = await this.#gen.next();
        if (step.done) {
          settled = true;
          this.#resolve(step.value);
          return;
        }
        yield step.value;
      }
    } catch (err) {
      settled = true;
      this.#reject(err);
      throw err;
    } finally {
      if (!settled) {
        try {
          // ends the walk first: it cancels the attempt being read and records it (outcome `cancelled`)
          await this.#gen.return(undefined as never);
        } finally {
          this.#reject(new RequestAbortedError('The stream was abandoned by its consumer', { attempts: this.#attempts }));
        }
      }
    }
  }

  /**
   * The answer as parts, in order: its text as it comes (`{ type: 'text', text }`), then each tool call
   * (`{ type: 'tool-call', toolCall }`), handed on once the whole answer passed its checks. Iterates the stream
   * (once, as `for await` does).
   */
  async *parts(): AsyncGenerator<StreamPart, void> {
    for await (const text of this) yield { type: 'text', text };
    const r = await this.result;
    for (const toolCall of r.toolCalls ?? []) yield { type: 'tool-call', toolCall };
  }

  /** Consumes the whole stream and resolves with its result. */
  async final(): Promise<StreamResult> {
    for await (const _ of this) {
      // drain
    }
    return this.result;
  }
}
