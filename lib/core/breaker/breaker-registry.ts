import type { EventBus } from '../events/event-bus';
import type { ResolvedBreaker } from '../options/resolve-options';
import { ModelBreaker } from './model-breaker';

/** One breaker per model name, created on first use and kept for the app's lifetime. */
export class BreakerRegistry {
  readonly #breakers = new Map<string, ModelBreaker>();
  #closed = false;

  constructor(
    readonly options: ResolvedBreaker,
    readonly events: EventBus,
  ) {}

  for(model: string): ModelBreaker {
    let b = this.#breakers.get(model);
    if (!b) {
      if (this.#closed) throw new Error('breakers are closed');
      b = new ModelBreaker(model, this.options, this.events);
      this.#breakers.set(model, b);
    }
    return b;
  }

  peek(model: string): ModelBreaker | undefined {
    return this.#breakers.get(model);
  }

  all(): ModelBreaker[] {
    return [...this.#breakers.values()];
  }

  close(): void {
    this.#closed = true;
    for (const b of this.#breakers.values()) b.shutdown();
  }
}
