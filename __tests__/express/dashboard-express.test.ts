/** The live dashboard on Express: its access check, its JSON snapshot, and its feed, which a browser may leave. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ConfigError, dashboardExpress, llmExpress, type LlmExpressMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { sleep, waitFor } from '../helpers/app';

const TOKEN = 'dash-token-123';
let fake: FakeLlm;
let llm: LlmExpressMiddleware;
let server: http.Server;
let base: string;
let errors: unknown[];
let consoleSpies: jest.SpyInstance[];

beforeEach(async () => {
  fake = await startFakeLlm();
  llm = llmExpress({
    models: [
      { name: 'smart', model: 'demo-smart', baseURL: fake.url, apiKey: 'k', timeoutMs: 300, price: { inputPerMTok: 2.5, outputPerMTok: 10 } },
      { name: 'fast', model: 'demo-fast', baseURL: fake.url, apiKey: 'k', price: { inputPerMTok: 0.15, outputPerMTok: 0.6 } },
    ],
  });
  errors = [];
  consoleSpies = (['error', 'warn', 'log'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => undefined));
  const app = express();
  app.set('env', 'development'); // Express's final handler prints errors outside 'test'
  app.use(express.json());
  app.use(llm);
  app.post('/summarize', async (req, res) => {
    res.json(await req.llm.complete({ prompt: String(req.body.text) }));
  });
  app.use('/ops', dashboardExpress({ llm, auth: { token: TOKEN }, intervalMs: 20 }));
  app.use(dashboardExpress({ llm, prefix: '/session-dash', auth: async (req) => req.headers['x-session'] === 'ok' || Promise.reject(new Error('no session')) }));
  app.use((err: unknown, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
    errors.push(err);
    next(err);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  consoleSpies.forEach((s) => s.mockRestore());
  await llm.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await fake.close();
});

describe('dashboardExpress', () => {
  it('needs its token, and serves a JSON snapshot under the app\'s mount path', async () => {
    expect((await fetch(`${base}/ops/dashboard/data`)).status).toBe(401);
    expect((await fetch(`${base}/ops/dashboard/data?token=wrong-token`)).status).toBe(401);
    expect(await (await fetch(`${base}/ops/DASHBOARD/DATA/`)).json()).toEqual({ error: { message: 'dashboard access denied' } });
    fake.setBehavior('demo-smart', { mode: 'error' });
    await fetch(`${base}/summarize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'one' }) });
    const data = await fetch(`${base}/ops/dashboard/data`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(data.status).toBe(200);
    expect(data.headers.get('cache-control')).toBe('no-store');
    const body = (await data.json()) as { requests: number; review: unknown[]; spend: { lastHourUsd: number } };
    expect(body).toMatchObject({ requests: 1, fallbackRate: 1, models: [{ name: 'smart' }, { name: 'fast' }] });
    expect(body.review[0]).toMatchObject({ reason: 'fallback', answeredBy: 'fast' });
    expect(body.spend.lastHourUsd).toBeGreaterThan(0);
    expect((await fetch(`${base}/ops/dashboard/data?token=${TOKEN}`)).status).toBe(200);
  });

  it('takes an async auth function: only a `true` it resolves to lets in; a rejection keeps out', async () => {
    expect((await fetch(`${base}/session-dash/data`, { headers: { 'x-session': 'ok' } })).status).toBe(200);
    expect((await fetch(`${base}/session-dash/data`, { headers: { 'x-session': 'no' } })).status).toBe(401);
    expect(errors).toEqual([]);
  });

  it('the live feed pushes snapshots; a browser leaving it, or resetting, leaves no error', async () => {
    for (const how of ['end', 'reset'] as const) {
      const { port } = server.address() as AddressInfo;
      const first = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/ops/dashboard/feed?token=${TOKEN}`, agent: false }, (res) => {
          expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
            if (text.split('event: snapshot').length > 2) {
              if (how === 'reset') req.socket?.resetAndDestroy();
              else req.destroy();
              resolve(text);
            }
          });
        });
        req.on('error', () => undefined);
        setTimeout(() => reject(new Error('no snapshots')), 3000);
      });
      expect(first).toMatch(/^event: snapshot\ndata: \{"at":\d+/);
    }
    await sleep(100);
    expect(errors).toEqual([]);
    expect(consoleSpies.flatMap((s) => s.mock.calls)).toEqual([]);
  });

  it('close() ends every feed still open', async () => {
    const res = await fetch(`${base}/ops/dashboard/feed?token=${TOKEN}`);
    const reader = res.body!.getReader();
    await reader.read();
    let ended = false;
    void (async () => {
      for (;;) if ((await reader.read()).done) break;
      ended = true;
    })();
    await llm.close();
    await waitFor(() => ended, 2000);
  });

  it('refuses bad options as dashboardRouter does, naming each', () => {
    expect(() => dashboardExpress({ llm, auth: { token: 'short' } })).toThrow(ConfigError);
    expect(() => dashboardExpress({ llm, intervalMs: 0, prefix: 'dash' })).toThrow(/\/intervalMs[\s\S]*\/prefix|\/prefix[\s\S]*\/intervalMs/);
  });
});
