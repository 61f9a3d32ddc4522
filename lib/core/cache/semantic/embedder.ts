/**
 * What the semantic cache embeds prompts with. The core does not know whose service it is: the engine is handed
 * an `EmbedderFactory` (see `EngineDefaults`); the library's own calls an OpenAI-compatible `/v1/embeddings`.
 */
export interface Embedder {
  /**
   * One vector per text, in the same order. Rejects when the call fails; must stop its work when `signal` fires
   * (the lookup has given up waiting: the request goes on without it).
   */
  embed(texts: readonly string[], signal: AbortSignal): Promise<readonly ArrayLike<number>[]>;
  /** Releases its connections. */
  close?(): Promise<void>;
}

/** Where and with what model to embed (`cache.semantic`, with the first model's endpoint and key as defaults). */
export interface EmbedderSettings {
  readonly model: string;
  readonly baseURL: string | undefined;
  readonly apiKey: string | undefined;
  /** The app's `fetch` option, if it gave one. */
  readonly fetch: typeof globalThis.fetch | undefined;
}

/** Makes the semantic cache's embedder, once per cache. */
export type EmbedderFactory = (settings: EmbedderSettings) => Embedder;
