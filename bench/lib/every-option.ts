import type { LlmResilienceOptions } from '../../lib/types';

/**
 * The incident bench's "every relevant option on" row. Each capability that lands adds its options here,
 * so the bench picks it up.
 */
export const EVERY_OPTION: Partial<LlmResilienceOptions> = {};
