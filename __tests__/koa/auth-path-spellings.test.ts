/**
 * The Koa routers' side of the path-spelling class (see `../helpers/path-spellings`): the gateway and the
 * dashboard as @koa/router routers, at their default, custom and non-lower-case prefixes and nested in a parent
 * router; and the prefixes the routers accept.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { dashboardRouter, llmResilience, type LlmResilienceMiddleware, openAICompatibleRouter } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { bearer, DASH, describeGuardedSpellings, KEY, SESSION } from '../helpers/path-spellings';

let fake: FakeLlm;
let llm: LlmResilienceMiddleware;
let server: http.Server;

describeGuardedSpellings('Koa', async () => {
  fake = await startFakeLlm();
  llm = llmResilience({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'provider-key', timeoutMs: 5000 }], cache: false });
  const app = new Koa();
  app.silent = true;
  app.use(llm);
  // the gateway behind ctx.llm at its default prefix, one with its own engine under a custom prefix, one whose
  // prefix is not lower case, and one mounted inside another router (its routes get the parent's prefix too)
  const gateways = [
    openAICompatibleRouter({ apiKeys: [KEY] }),
    openAICompatibleRouter({ apiKeys: [KEY], llm, prefix: '/api/llm' }),
    openAICompatibleRouter({ apiKeys: [KEY], llm, prefix: '/Api/V2' }),
  ];
  const parent = new Router();
  parent.use('/outer', openAICompatibleRouter({ apiKeys: [KEY], prefix: '/v3' }).routes());
  parent.get('/outer/open', (ctx) => {
    ctx.body = 'open'; // the parent's own route: the nested gateway's check must not take it over
  });
  for (const r of [...gateways, parent]) app.use(r.routes()).use(r.allowedMethods());
  const dashboards = [
    dashboardRouter({ llm, auth: { token: DASH } }),
    dashboardRouter({ llm, auth: (ctx) => ctx.get('x-session') === SESSION, prefix: '/Admin/Dash', intervalMs: 60_000 }),
  ];
  for (const d of dashboards) app.use(d.routes()).use(d.allowedMethods());
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    fake,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await llm.close();
      await fake.close();
    },
  };
});

describe('router prefixes', () => {
  it('a prefix that would not serve as written is refused at start-up, naming it', () => {
    for (const prefix of ['v1', '/', '/v1/', 'api/llm', '/v1 ', '/v1?x']) {
      expect(() => openAICompatibleRouter({ apiKeys: [KEY], prefix })).toThrow(/\/prefix: must be '' or a path/);
      expect(() => dashboardRouter({ llm, prefix })).toThrow(/\/prefix: must be '' or a path/);
    }
    for (const prefix of ['', '/v1', '/Api/V2', '/a/b/c']) {
      expect(() => openAICompatibleRouter({ apiKeys: [KEY], prefix })).not.toThrow();
      expect(() => dashboardRouter({ llm, prefix })).not.toThrow();
    }
  });

  it("a gateway with an empty prefix guards its own routes only: the parent's routes stay as the app made them", async () => {
    const app = new Koa();
    app.silent = true;
    app.use(llm);
    const parent = new Router();
    parent.use(openAICompatibleRouter({ apiKeys: [KEY], prefix: '' }).routes());
    parent.get('/public', (ctx) => {
      ctx.body = 'public';
    });
    app.use(parent.routes());
    const s = http.createServer(app.callback());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/public`)).status).toBe(200);
      expect((await fetch(`${base}/MODELS`)).status).toBe(401);
      expect((await fetch(`${base}/models`, { headers: bearer(KEY) })).status).toBe(200);
    } finally {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
