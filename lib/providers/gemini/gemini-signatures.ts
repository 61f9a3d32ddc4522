/**
 * The thought signatures of the function calls a provider's answers made, by tool call id. Gemini's thinking models
 * sign a function call (`thoughtSignature`, their reasoning state) and want the signature back when the
 * conversation replays the call; an OpenAI-shaped message has no place for it, so the provider keeps it here and
 * puts it back when a call with that id comes again. A call it does not know (another provider's, one forgotten,
 * one made by another process) gets the placeholder Gemini accepts instead (see `FOREIGN_THOUGHT_SIGNATURE`): the
 * request is valid, the model only loses that reasoning state.
 *
 * Bounded: the oldest entries are forgotten beyond `max` (a Map keeps insertion order).
 */
export class ThoughtSignatures {
  readonly #byId = new Map<string, string>();

  constructor(readonly max = 2_000) {}

  remember(id: string, signature: unknown): void {
    if (typeof signature !== 'string' || signature === '') return;
    this.#byId.delete(id);
    this.#byId.set(id, signature);
    if (this.#byId.size > this.max) this.#byId.delete(this.#byId.keys().next().value as string);
  }

  get(id: string | undefined): string | undefined {
    return id === undefined ? undefined : this.#byId.get(id);
  }
}
