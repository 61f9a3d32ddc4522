/**
 * An app that installed koa-llm-resilience with koa and @koa/router only: none of the optional peer dependencies
 * (prom-client, gpt-tokenizer, ioredis). The package loads and answers; a feature that needs a missing package
 * says which one, at start-up; usage a provider does not report is left as reported.
 */
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { installedApp, type InstalledApp, removeBuild } from '../helpers/installed-package';

const SCRIPT = `
const lib = require('koa-llm-resilience');
const models = [{ name: 'primary', model: 'fake-model', baseURL: process.env.UPSTREAM, apiKey: 'k' }];
const failure = (f) => {
  try {
    f();
    return null;
  } catch (e) {
    return { missing: lib.isMissingPackageError(e), code: e.code, packageName: e.packageName, message: e.message };
  }
};
(async () => {
  const mw = lib.llmResilience({ models });
  const out = {
    loaded: ['prom-client', 'gpt-tokenizer', 'ioredis'].filter((n) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + n + '/'))),
    metrics: failure(() => lib.metricsMiddleware(mw)),
    registerMetrics: failure(() => lib.registerMetrics({}, mw)),
    maxPromptTokens: failure(() => lib.llmResilience({ models, maxPromptTokens: 1000 })),
    contextWindow: failure(() => lib.llmResilience({ models: [{ ...models[0], contextWindow: 8000 }] })),
  };
  const answer = await mw.engine.complete({ messages: [{ role: 'user', content: 'no usage reported' }] });
  out.completion = { text: typeof answer.text, usage: answer.usage };
  const stream = mw.engine.stream({ messages: [{ role: 'user', content: 'no usage reported either' }] });
  for await (const _ of stream);
  out.stream = { usage: (await stream.result).usage };
  await mw.close();
  console.log(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
`;

let fake: FakeLlm;
let installed: InstalledApp;
beforeAll(async () => {
  fake = await startFakeLlm({ behaviors: { 'fake-model': { omitUsage: true } } });
  installed = installedApp({ koa: 'koa', '@koa/router': '@koa/router' });
});
afterAll(async () => {
  installed?.remove();
  removeBuild();
  await fake.close();
});

describe('an app without the optional peer dependencies', () => {
  it('loads and answers; metrics and token limits name the package they need, at start-up', async () => {
    const out = JSON.parse((await installed.run('app.js', SCRIPT, { UPSTREAM: fake.url })).trim().split('\n').pop() as string);
    expect(out.loaded).toEqual([]);
    for (const feature of ['metrics', 'registerMetrics']) {
      expect(out[feature]).toMatchObject({ missing: true, code: 'MISSING_PACKAGE', packageName: 'prom-client' });
      expect(out[feature].message).toContain("npm install prom-client@'^15.1.0'");
    }
    for (const feature of ['maxPromptTokens', 'contextWindow']) {
      expect(out[feature]).toMatchObject({ missing: true, code: 'MISSING_PACKAGE', packageName: 'gpt-tokenizer' });
      expect(out[feature].message).toContain("npm install gpt-tokenizer@'^4.0.0'");
      expect(out[feature].message).toContain(feature);
    }
    // The provider reported no usage and there is no tokenizer to count it: the answers still arrive.
    expect(out.completion).toEqual({ text: 'string', usage: expect.objectContaining({ promptTokens: 0, completionTokens: 0, totalTokens: 0 }) });
    expect(out.stream.usage).toEqual(expect.objectContaining({ promptTokens: 0, completionTokens: 0, totalTokens: 0 }));
  });
});
