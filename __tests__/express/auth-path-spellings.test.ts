/**
 * The Express handlers' side of the path-spelling class (see `../helpers/path-spellings`), with the layout the
 * Koa routers are tested in: Express routes case-insensitively and strips a mount path however it is spelt, and
 * every spelling either handler serves must have been through its check.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { dashboardExpress, llmExpress, type LlmExpressMiddleware, openAICompatibleExpress } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { bearer, DASH, describeGuardedSpellings, KEY, SESSION } from '../helpers/path-spellings';

let fake: FakeLlm;
let llm: LlmExpressMiddleware;
let server: http.Server;
let base: string;

describeGuardedSpellings('Express', async () => {
  fake = await startFakeLlm();
  llm = llmExpress({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'provider-key', timeoutMs: 5000 }], cache: false });
  const app = express();
  app.set('env', 'test');
  app.use(llm);
  // behind req.llm at the default prefix, with its own engine under a custom and a non-lower-case prefix, and
  // mounted under a path of the app (Express strips it before the handler sees the path)
  app.use(openAICompatibleExpress({ apiKeys: [KEY] }));
  app.use(openAICompatibleExpress({ apiKeys: [KEY], llm, prefix: '/api/llm' }));
  app.use(openAICompatibleExpress({ apiKeys: [KEY], llm, prefix: '/Api/V2' }));
  const outer = express.Router();
  outer.use(openAICompatibleExpress({ apiKeys: [KEY], prefix: '/v3' }));
  outer.get('/open', (_req, res) => {
    res.send('open'); // the app's own route beside it: the gateway's check must not take it over
  });
  app.use('/outer', outer);
  app.use(dashboardExpress({ llm, auth: { token: DASH } }));
  app.use(dashboardExpress({ llm, auth: (req) => req.headers['x-session'] === SESSION, prefix: '/Admin/Dash', intervalMs: 60_000 }));
  // Express's own 404 page is HTML, which the check would take for the dashboard's page: answer in plain text
  app.use((req, res) => {
    res.status(404).type('text/plain').send(`no route ${req.method}`);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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

describe('Express handlers and the app around them', () => {
  it('an empty prefix guards the handler\'s own paths only: the app\'s other routes stay as it made them', async () => {
    const app = express();
    app.use(llm);
    app.use(openAICompatibleExpress({ apiKeys: [KEY], prefix: '' }));
    app.get('/public', (_req, res) => {
      res.send('public');
    });
    const s = http.createServer(app);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const at = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      expect((await fetch(`${at}/public`)).status).toBe(200);
      expect((await fetch(`${at}/MODELS`)).status).toBe(401);
      expect((await fetch(`${at}/models`, { headers: bearer(KEY) })).status).toBe(200);
      // a method the route does not take is the gateway's 405, as in Koa, naming the methods it takes
      const wrong = await fetch(`${at}/models`, { method: 'DELETE', headers: bearer(KEY) });
      expect({ status: wrong.status, allow: wrong.headers.get('allow') }).toEqual({ status: 405, allow: 'GET, HEAD' });
      expect((await fetch(`${at}/models`, { method: 'DELETE' })).status).toBe(401);
      // an unknown path is the app's: an empty prefix owns no path space
      expect((await fetch(`${at}/embeddings`, { method: 'POST' })).status).toBe(404);
    } finally {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('the dashboard page redirects to its trailing slash under the mount path, keeping the token', async () => {
    const res = await fetch(`${base}/dashboard?token=${DASH}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`/dashboard/?token=${DASH}`);
    const page = await fetch(`${base}/dashboard/?token=${DASH}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('LLM resilience');
  });
});
