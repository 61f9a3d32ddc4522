import type { EngineDefaults } from './core/engine';
import { openaiEmbedder } from './providers/openai/openai-embedder';
import { openaiProvider } from './providers/openai/openai-provider';

/**
 * The library's defaults for the core: models without a provider of their own answer through any OpenAI-compatible
 * endpoint (the openai SDK, loaded when the first client is made), and the semantic cache embeds with `/v1/embeddings`.
 */
export const OPENAI_DEFAULTS: EngineDefaults = { provider: openaiProvider, embedder: openaiEmbedder };

/** Every option's default value (what an option left out means), in one frozen object. */
export { OPTION_DEFAULTS } from './core/options/option-defaults';
