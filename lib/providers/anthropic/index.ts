export { ANTHROPIC_DEFAULT_MAX_TOKENS, anthropicProvider, type AnthropicProviderOptions } from './anthropic-provider';
