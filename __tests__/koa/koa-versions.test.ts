/**
 * The Koa and @koa/router versions the package declares as peers (koa 2 and 3, @koa/router 12 to 15), each pair
 * installed in an app as npm would lay it out: the library resolves `koa`/`@koa/router` from the app, so the
 * routers it makes come from the app's copy. Each app runs in its own process and is exercised over real HTTP:
 * a completion and a stream through `ctx.llm`, the OpenAI-compatible gateway (answer, stream, auth) and the
 * dashboard (auth, snapshot). The process reports which copies of koa and @koa/router it loaded.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { installedApp, type InstalledApp, removeBuild } from '../helpers/installed-package';

const PKG = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** [koa major, the dev dependency holding it]; [router major, its dev dependency]. */
const KOAS: [number, string][] = [
  [2, 'koa2'],
  [3, 'koa'],
];
const ROUTERS: [number, string][] = [
  [12, 'koa-router-12'],
  [13, 'koa-router-13'],
  [14, 'koa-router-14'],
  [15, '@koa/router'],
];

const SERVER = `
const fs = require('node:fs');
const Koa = require('koa');
const Router = require('@koa/router');
const { llmResilience, openAICompatibleRouter, dashboardRouter } = require('koa-llm-resilience');

const app = new Koa();
const llm = llmResilience({ models: [{ name: 'primary', model: 'fake-model', baseURL: process.env.UPSTREAM, apiKey: 'k' }] });
app.use(llm);
const gateway = openAICompatibleRouter({ apiKeys: ['gateway-key-1'] });
app.use(gateway.routes()).use(gateway.allowedMethods());
const dashboard = dashboardRouter({ llm, auth: { token: 'dash-token-123' } });
app.use(dashboard.routes());
// The app's own router, made from the app's @koa/router, with ctx.llm.
const router = new (Router.default || Router)();
router.post('/ask', async (ctx) => {
  const r = await ctx.llm.complete({ messages: [{ role: 'user', content: 'hello ' + ctx.query.n }] });
  ctx.body = { text: r.text, model: r.model };
});
router.post('/ask-stream', async (ctx) => {
  await ctx.llm.sse({ messages: [{ role: 'user', content: 'hello stream ' + ctx.query.n }] });
});
app.use(router.routes());

// Which copies of koa and @koa/router this process loaded (their package roots, by real path).
const roots = (pattern) => [...new Set(Object.keys(require.cache).map((k) => (k.match(pattern) || [])[0]).filter(Boolean))];
const version = (root) => JSON.parse(fs.readFileSync(root + 'package.json', 'utf8')).version;
const koas = roots(/^.*\\/node_modules\\/(koa|koa2)\\//);
const routers = roots(/^.*\\/node_modules\\/(@koa\\/router|koa-router-\\d+)\\//);
const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port, koa: koas.map(version), router: routers.map(version) }));
});
process.on('SIGTERM', () => void llm.close().then(() => server.close())); // then the process ends on its own
`;

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
  removeBuild();
});

describe('the declared peer ranges', () => {
  it('name koa 2 and 3 and @koa/router 12 to 15, each tested here, as required peers', () => {
    expect(PKG.peerDependencies.koa).toBe(KOAS.map(([major]) => `^${major}.0.0`).join(' || '));
    expect(PKG.peerDependencies['@koa/router']).toBe(ROUTERS.map(([major]) => `^${major}.0.0`).join(' || '));
    for (const [major, dev] of [...KOAS, ...ROUTERS]) {
      const range = PKG.devDependencies[dev];
      expect(range).toMatch(new RegExp(`^(npm:(koa|@koa/router)@)?\\^${major}(\\.|$)`));
    }
  });
});

describe.each(KOAS.flatMap(([koa, koaDir]) => ROUTERS.map(([router, routerDir]) => [koa, router, koaDir, routerDir] as const)))(
  'koa %i with @koa/router %i',
  (koaMajor, routerMajor, koaDir, routerDir) => {
    let installed: InstalledApp;
    let child: ChildProcess;
    let url: string;
    let loaded: { koa: string[]; router: string[] };

    beforeAll(async () => {
      installed = installedApp({ koa: koaDir, '@koa/router': routerDir });
      const started = await installed.start('server.js', SERVER, { UPSTREAM: fake.url });
      child = started.child;
      const info = JSON.parse(started.firstLine) as { port: number; koa: string[]; router: string[] };
      url = `http://127.0.0.1:${info.port}`;
      loaded = info;
    }, 30_000);
    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      installed?.remove();
    });

    it('loads one copy of each, the app’s', () => {
      expect(loaded.koa.map((v) => Number(v.split('.')[0]))).toEqual([koaMajor]);
      expect(loaded.router.map((v) => Number(v.split('.')[0]))).toEqual([routerMajor]);
    });

    it('answers a completion and a stream through ctx.llm', async () => {
      const before = fake.requests().total;
      const res = await fetch(`${url}/ask?n=${Math.random()}`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ model: 'primary', text: expect.any(String) });
      const stream = await fetch(`${url}/ask-stream?n=${Math.random()}`, { method: 'POST' });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const text = await stream.text();
      expect(text).toMatch(/event: done|"done"|\[DONE\]/);
      expect(fake.requests().total - before).toBe(2);
    });

    it('serves the gateway to a client with its key only: completion, stream, models', async () => {
      const post = (body: unknown, key?: string) =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify(body),
        });
      const before = fake.requests().total;
      const ask = { model: 'default', messages: [{ role: 'user', content: `hi ${Math.random()}` }] };
      expect((await post(ask)).status).toBe(401);
      expect((await post(ask, 'wrong-key-123')).status).toBe(401);
      expect(fake.requests().total - before).toBe(0);
      const ok = await post(ask, 'gateway-key-1');
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] });
      const streamed = await post({ ...ask, messages: [{ role: 'user', content: `stream ${Math.random()}` }], stream: true }, 'gateway-key-1');
      expect(streamed.status).toBe(200);
      expect(await streamed.text()).toMatch(/data: \[DONE\]\s*$/);
      expect(fake.requests().total - before).toBe(2);
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      const models = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer gateway-key-1' } });
      expect(models.status).toBe(200);
      expect(await models.json()).toMatchObject({ object: 'list' });
    });

    it('serves the dashboard with its token only', async () => {
      expect((await fetch(`${url}/dashboard/data`)).status).toBe(401);
      const data = await fetch(`${url}/dashboard/data`, { headers: { authorization: 'Bearer dash-token-123' } });
      expect(data.status).toBe(200);
      expect(await data.json()).toMatchObject({ models: [{ name: 'primary' }] });
      const page = await fetch(`${url}/dashboard/`, { headers: { authorization: 'Bearer dash-token-123' } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    });
  },
);
