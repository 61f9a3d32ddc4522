import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Packages whose loading is deferred from `require('koa-llm-resilience')` to the first use that needs them. */
const DEFERRED = ['ioredis', 'prom-client', 'gpt-tokenizer', 'openai', 'undici', 'ajv', '@opentelemetry/api', '@koa/router', 'koa', 'express'];

describe('loading the library', () => {
  it('loads none of its heavy dependencies until a feature needs them, each by the first feature that does', () => {
    const root = path.join(__dirname, '..');
    const script = `
      const names = ${JSON.stringify(DEFERRED)};
      const loaded = () => Object.fromEntries(names.map((n) => [n, Object.keys(require.cache).some((k) => k.includes('/node_modules/' + n + '/'))]));
      const lib = require('./lib');
      const atRequire = loaded();
      const mw = lib.llmResilience({ models: [{ name: 'm', model: 'gpt-4o-mini', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' }] });
      const atFirstMiddleware = loaded();
      lib.openAICompatibleRouter({ apiKeys: ['gateway-key-1'] });
      // the Express gateway and dashboard are plain Node handlers: Express itself is never loaded
      lib.openAICompatibleExpress({ apiKeys: ['gateway-key-1'] });
      lib.dashboardExpress({ llm: mw });
      const atRouter = loaded();
      const { Registry } = require('prom-client');
      lib.registerMetrics(new Registry(), mw);
      const atMetrics = loaded();
      console.log(JSON.stringify({ atRequire, atFirstMiddleware, atRouter, atMetrics }));
      void Promise.resolve(mw.close()); // then the process ends on its own: close() leaves nothing running
    `;
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, encoding: 'utf8' });
    const seen = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, Record<string, boolean>>;
    const none = Object.fromEntries(DEFERRED.map((n) => [n, false]));
    expect(seen.atRequire).toEqual(none);
    // The first middleware: the SDK and its transport, the option and request schemas, tracing.
    expect(seen.atFirstMiddleware).toEqual({ ...none, openai: true, undici: true, ajv: true, '@opentelemetry/api': true });
    expect(seen.atRouter).toEqual({ ...seen.atFirstMiddleware, '@koa/router': true });
    expect(seen.atMetrics).toEqual({ ...seen.atRouter, 'prom-client': true });
  });
});
