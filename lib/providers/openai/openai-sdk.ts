/**
 * The openai SDK, loaded when the first client is made rather than by `require('koa-llm-resilience')`: loading
 * it takes about 50 ms, which an app would otherwise pay before it has created a single middleware (and a test
 * or tool that only imports a type or an error class would pay for nothing).
 */
let sdk: typeof import('openai') | undefined;

export function openaiSdk(): typeof import('openai') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sdk ??= require('openai') as typeof import('openai');
  return sdk;
}
