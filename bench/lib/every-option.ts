import type { LlmResilienceOptions } from '../../lib/koa/types';

/**
 * The incident bench's "every relevant option on" row. Every capability adds its options here,
 * so the bench picks it up.
 */
export const EVERY_OPTION: Partial<LlmResilienceOptions> = {
  adaptiveTimeout: { minSamples: 20, percentile: 95, multiplier: 1.5 },
  hedge: { afterPercentile: 95, maxExtraLoad: 0.1, minSamples: 20 },
};
