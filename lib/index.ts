export { llmResilience, type LlmResilienceMiddleware } from './koa/llm-resilience';
export { cacheMiddleware } from './koa/cache-middleware';
export { breakerMiddleware } from './koa/breaker-middleware';
export { fallbackMiddleware } from './koa/fallback-middleware';
export type { LlmContext, LlmMiddleware } from './koa/types';
export { LlmEngine, createEngine } from './core/engine';
export type { CallContext } from './core/complete';
export * from './errors';
export type * from './types';
