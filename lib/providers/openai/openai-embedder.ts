import type OpenAI from 'openai';
import type { Embedder, EmbedderFactory, EmbedderSettings } from '../../core/cache/semantic/embedder';
import { openaiSdk } from './openai-sdk';
import { type UpstreamTransport, undiciTransport } from './undici-transport';

/** The semantic cache's embeddings from an OpenAI-compatible `/v1/embeddings` (one SDK client, no retries). */
export class OpenAIEmbedder implements Embedder {
  readonly #client: OpenAI;
  readonly #model: string;
  /** The default transport (see `undiciTransport`), when the app gave no `fetch` of its own. */
  readonly #transport: UpstreamTransport | null;

  constructor(settings: EmbedderSettings) {
    this.#model = settings.model;
    this.#transport = settings.fetch ? null : undiciTransport();
    const fetch = settings.fetch ?? this.#transport?.fetch;
    this.#client = new (openaiSdk().OpenAI)({ baseURL: settings.baseURL, apiKey: settings.apiKey, maxRetries: 0, logLevel: 'off', fetch });
  }

  async embed(texts: readonly string[], signal: AbortSignal): Promise<readonly ArrayLike<number>[]> {
    // one text is sent as a string, as every compatible endpoint takes it
    const input = texts.length === 1 ? texts[0] : [...texts];
    const r = await this.#client.embeddings.create({ model: this.#model, input, encoding_format: 'float' }, { signal, maxRetries: 0 });
    const data = Array.isArray(r.data) ? [...r.data].sort((a, b) => (a?.index ?? 0) - (b?.index ?? 0)) : [];
    return data.map((d) => d?.embedding ?? []);
  }

  /** Closes the default transport's connections (an app's own `fetch` is left alone). */
  close(): Promise<void> {
    return this.#transport?.close() ?? Promise.resolve();
  }
}

/** The semantic cache's default embedder factory that the top-level engine hands the core. */
export const openaiEmbedder: EmbedderFactory = (settings) => new OpenAIEmbedder(settings);
