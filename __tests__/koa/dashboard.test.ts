/**
 * The live dashboard, in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core, never a browser download): a breaker opening in the demo app shows on the page.
 */
import { existsSync } from 'node:fs';
import Koa from 'koa';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import request from 'supertest';
import { createDemoApp } from '../../demo-app/app';
import { ConfigError, dashboardRouter, llmResilience, type LlmResilienceMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { listen, type Listening } from '../helpers/app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let fake: FakeLlm;
let llm: LlmResilienceMiddleware;
let listening: Listening;
let server: http.Server;
let url: string;

beforeEach(async () => {
  fake = await startFakeLlm();
  llm = llmResilience({
    models: [
      { name: 'smart', model: 'demo-smart', baseURL: fake.url, apiKey: 'k', timeoutMs: 300, price: { inputPerMTok: 2.5, outputPerMTok: 10 } },
      { name: 'fast', model: 'demo-fast', baseURL: fake.url, apiKey: 'k', price: { inputPerMTok: 0.15, outputPerMTok: 0.6 } },
    ],
    breaker: { volumeThreshold: 3, resetTimeoutMs: 60_000 },
  });
  listening = await listen(createDemoApp(llm, { dashboardToken: 'dash-token-123' }));
  ({ server, url } = listening);
});
afterEach(async () => {
  await llm.close();
  await listening.close();
  await fake.close();
});

describe('dashboard', () => {
  it('needs its token, and serves a JSON snapshot', async () => {
    await request(server).get('/dashboard/data').expect(401);
    await request(server).get('/dashboard/data?token=wrong-token').expect(401);
    fake.setBehavior('demo-smart', { mode: 'error' });
    await request(server).post('/summarize').send({ text: 'one' });
    const data = await request(server).get('/dashboard/data').set('authorization', 'Bearer dash-token-123').expect(200);
    expect(data.body).toMatchObject({ requests: 1, fallbackRate: 1, models: [{ name: 'smart' }, { name: 'fast' }] });
    expect(data.body.review[0]).toMatchObject({ reason: 'fallback', answeredBy: 'fast' });
    expect(data.body.spend.lastHourUsd).toBeGreaterThan(0);
    expect(() => dashboardRouter({ llm, auth: { token: 'short' } })).toThrow(ConfigError);
  });

  it('refuses a feed period a timer cannot keep (0, NaN, fractional, over an hour), naming every bad field at once', () => {
    for (const intervalMs of [0, 5, Number.NaN, 10.5, 3_600_001, 2 ** 31]) {
      let err: unknown;
      try {
        dashboardRouter({ llm, auth: { token: 'short' }, intervalMs });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).problems.map((p) => p.path).sort();
      expect(paths).toEqual(['/auth/token', '/intervalMs']);
    }
    expect(() => dashboardRouter({ llm, intervalMs: 10 })).not.toThrow();
    expect(() => dashboardRouter({ llm, intervalMs: 3_600_000 })).not.toThrow();
  });

  it('takes an async auth function: only a `true` it resolves to lets in; false, a rejection or a throw keep out', async () => {
    const mount = async (auth: (ctx: Koa.Context) => boolean | Promise<boolean>) => {
      const app = new Koa();
      app.use(dashboardRouter({ llm, auth }).routes());
      return listen(app);
    };
    const cases: [string, (ctx: Koa.Context) => boolean | Promise<boolean>, number][] = [
      ['resolves true for the right session', async (ctx) => ctx.get('x-session') === 'admin', 200],
      ['resolves false', async () => false, 401],
      ['rejects (session store down)', async () => Promise.reject(new Error('store down')), 401],
      ['throws', () => {
        throw new Error('bug');
      }, 401],
      ['resolves a truthy non-boolean', async () => 'yes' as unknown as boolean, 401],
    ];
    const got: [string, number][] = [];
    for (const [name, auth] of cases) {
      const l = await mount(auth);
      try {
        got.push([name, (await request(l.server).get('/dashboard/data').set('x-session', 'admin')).status]);
      } finally {
        await l.close();
      }
    }
    expect(got).toEqual(cases.map(([name, , status]) => [name, status]));
  });

  it('shows a breaker opening, live, in headless Chromium', async () => {
    expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs Debian's chromium when absent
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(`${url}/dashboard/?token=dash-token-123`);
      await page.waitForSelector('tr[data-model="smart"] .state.closed', { timeout: 5000 });
      fake.setBehavior('demo-smart', { mode: 'error' });
      for (let i = 0; i < 3; i++) await request(server).post('/summarize').send({ text: `report ${i}` });
      expect(llm.status().models[0].state).toBe('open');
      // the page learns it from the live feed, without a reload
      await page.waitForSelector('tr[data-model="smart"] .state.open', { timeout: 5000 });
      expect(await page.textContent('tr[data-model="smart"] .state')).toBe('open');
      await page.waitForFunction(() => document.querySelectorAll('#review tr').length >= 3, undefined, { timeout: 5000 });
      expect(await page.textContent('#fallbackRate')).toBe('100.0%');
      await page.screenshot({ path: path.join(__dirname, '..', 'artifacts', 'dashboard.png'), fullPage: true });
    } finally {
      await browser?.close();
    }
  }, 30_000);
});
