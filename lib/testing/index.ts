export { fakeEmbedding, startFakeLlm, type FakeBehavior, type FakeLlm, type FakeLlmOptions, type FakeMode, type FakeRequestRecord, type FakeStats } from './fake-llm-server';
export { memoryProvider, type MemoryCallRecord, type MemoryProvider, type MemoryProviderOptions, type MemoryStep } from './memory-provider';
