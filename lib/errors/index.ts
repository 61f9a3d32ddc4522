export { LlmResilienceError } from './llm-resilience-error';
export { ConfigError, isConfigError, type ConfigProblem } from './config-error';
export { RequestError, isRequestError } from './request-error';
export { AllModelsFailedError, isAllModelsFailedError } from './all-models-failed-error';
export { RequestAbortedError, isRequestAbortedError } from './request-aborted-error';
export { StreamInterruptedError, isStreamInterruptedError } from './stream-interrupted-error';
export { MissingPackageError, isMissingPackageError } from './missing-package-error';
export { TenantLimitError, isTenantLimitError, type TenantLimitKind, type TenantLimitState } from './tenant-limit-error';
