/**
 * Several deployments of one model, over real HTTP: a Koa app whose model `gpt` is served by two fake upstreams on
 * loopback (`eu` and `us`), with a third fake behind the next model of the chain. Each fake counts what it received.
 */
import request from 'supertest';
import { createEngine, type LlmEngine } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { LlmEventMap, ModelConfig } from '../../lib/types';
import type { LlmResilienceOptions } from '../../lib/koa/types';
import { startApp, type TestApp, waitFor } from '../helpers/app';

let eu: FakeLlm;
let us: FakeLlm;
let next: FakeLlm;
let app: TestApp | undefined;
let engine: LlmEngine | undefined;

beforeEach(async () => {
  [eu, us, next] = await Promise.all([startFakeLlm(), startFakeLlm(), startFakeLlm()]);
});
afterEach(async () => {
  await app?.close();
  await engine?.close();
  app = undefined;
  engine = undefined;
  await Promise.all([eu.close(), us.close(), next.close()]);
});

/** `gpt` at `eu` (tried first unless said otherwise: `us` has weight 0) and `us`, then `backup` at its own fake. */
function options(gpt: Partial<ModelConfig> = {}, extra: Partial<LlmResilienceOptions> = {}): LlmResilienceOptions {
  return {
    // moves between deployments alone: no same-model retry first, and no rescue (a loaded machine's stall past a
    // fast deployment's p99 would start the next one beside it and add a call to the counts)
    retry: false,
    rescue: false,
    models: [
      {
        name: 'gpt',
        model: 'gpt-4o-mini',
        apiKey: 'sk-model-secret-1',
        timeoutMs: 1000,
        deployments: [
          { name: 'eu', baseURL: eu.url, apiKey: 'sk-eu-secret-2' },
          { name: 'us', baseURL: us.url, apiKey: 'sk-us-secret-3', weight: 0 },
        ],
        ...gpt,
      },
      { name: 'backup', model: 'small-model', baseURL: next.url, apiKey: 'sk-backup-secret-4', timeoutMs: 1000 },
    ],
    breaker: { volumeThreshold: 100, resetTimeoutMs: 60_000 },
    cache: false,
    adaptiveTimeout: false,
    ...extra,
  };
}

let n = 0;
const ask = () => ({ messages: [{ role: 'user' as const, content: `question ${++n}` }] });

describe('a model with several deployments', () => {
  it('a 429 on the first deployment is answered by the second, with no fallback to the next model', async () => {
    eu.setBehavior('gpt-4o-mini', { mode: 'rate_limit', retryAfterS: 30 });
    app = await startApp(options());
    const fallbacks: LlmEventMap['fallback'][] = [];
    const cooldowns: LlmEventMap['cooldown'][] = [];
    app.llm.on('fallback', (e) => fallbacks.push(e));
    app.llm.on('cooldown', (e) => cooldowns.push(e));

    const res = await request(app.server).post('/complete').send(ask());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model: 'gpt/us', providerModel: 'gpt-4o-mini', fallback: false });
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ model: 'gpt/eu', outcome: 'rate_limited', status: 429 }),
      expect.objectContaining({ model: 'gpt/us', outcome: 'success' }),
    ]);
    expect(eu.stats().requests).toBe(1);
    expect(us.stats().requests).toBe(1);
    expect(next.stats().requests).toBe(0);
    expect(fallbacks).toEqual([expect.objectContaining({ from: 'gpt/eu', to: 'gpt/us', reason: 'rate_limited', sameModel: true })]);
    expect(cooldowns).toEqual([expect.objectContaining({ model: 'gpt/eu' })]);

    // the cool-down is the deployment's: `us` is not cooling down, and the next request skips `eu` with no call
    const status = app.llm.status();
    const byName = Object.fromEntries(status.models.map((m) => [m.name, m]));
    expect(Object.keys(byName)).toEqual(['gpt/eu', 'gpt/us', 'backup']);
    expect(byName['gpt/eu']).toMatchObject({ group: 'gpt', deployment: 'eu', providerModel: 'gpt-4o-mini' });
    expect(byName['gpt/eu'].cooldownUntil).not.toBeNull();
    expect(byName['gpt/us'].cooldownUntil).toBeNull();
    expect(byName.backup.group).toBeUndefined();
    const again = await request(app.server).post('/complete').send(ask());
    expect(again.body.model).toBe('gpt/us');
    expect(again.body.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'rate_limited', latencyMs: 0 });
    expect(eu.stats().requests).toBe(1);
    expect(next.stats().requests).toBe(0);
    // no key in what status() tells
    expect(JSON.stringify(status)).not.toMatch(/secret/);
  });

  it('the next model is tried only when every deployment of the model failed', async () => {
    eu.setBehavior('gpt-4o-mini', { mode: 'rate_limit' });
    us.setBehavior('gpt-4o-mini', { mode: 'error', status: 503 });
    app = await startApp(options());
    const fallbacks: LlmEventMap['fallback'][] = [];
    app.llm.on('fallback', (e) => fallbacks.push(e));
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.body).toMatchObject({ model: 'backup', fallback: true });
    expect(res.body.attempts.map((a: { model: string; outcome: string }) => `${a.model} ${a.outcome}`)).toEqual(['gpt/eu rate_limited', 'gpt/us error', 'backup success']);
    expect(fallbacks.map((f) => [f.from, f.to, f.sameModel])).toEqual([
      ['gpt/eu', 'gpt/us', true],
      ['gpt/us', 'backup', undefined],
    ]);
  });

  it("a failing deployment's breaker opens alone: later requests go to the other deployment with no call to it", async () => {
    eu.setBehavior('gpt-4o-mini', { mode: 'error', status: 500 });
    app = await startApp(options({}, { breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 } }));
    const opened: string[] = [];
    app.llm.on('breaker:open', (e) => opened.push(e.model));
    for (let i = 0; i < 2; i++) {
      const res = await request(app.server).post('/complete').send(ask());
      expect(res.body).toMatchObject({ model: 'gpt/us', fallback: false });
      expect(res.body.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'error', status: 500 });
    }
    expect(opened).toEqual(['gpt/eu']);
    const states = Object.fromEntries(app.llm.status().models.map((m) => [m.name, m.state]));
    expect(states).toEqual({ 'gpt/eu': 'open', 'gpt/us': 'closed', backup: 'closed' });
    const res = await request(app.server).post('/complete').send(ask());
    expect(res.body.model).toBe('gpt/us');
    expect(res.body.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'circuit_open', latencyMs: 0 });
    expect(eu.stats().requests).toBe(2);
    expect(us.stats().requests).toBe(3);
    expect(next.stats().requests).toBe(0);
  });

  it('a full deployment (its own maxConcurrent) sends the request to the other deployment', async () => {
    eu.setBehavior('gpt-4o-mini', { latencyMs: 300 });
    app = await startApp(options({ maxConcurrent: 1 }));
    const first = request(app.server).post('/complete').send(ask()).then((r) => r);
    await waitFor(() => eu.stats().pending === 1);
    const second = await request(app.server).post('/complete').send(ask());
    expect(second.body.model).toBe('gpt/us');
    expect(second.body.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'overloaded' });
    expect((await first).body.model).toBe('gpt/eu');
  });

  it('a request may name the model (all its deployments) or one deployment', async () => {
    app = await startApp(options());
    const all = await request(app.server).post('/complete').send({ ...ask(), models: ['gpt'] });
    expect(all.body.model).toBe('gpt/eu');
    const one = await request(app.server).post('/complete').send({ ...ask(), models: ['gpt/us'] });
    expect(one.body).toMatchObject({ model: 'gpt/us', fallback: false });
    expect(one.body.attempts).toHaveLength(1);
  });

  it('least-busy: a request goes to the deployment with the fewest calls in flight', async () => {
    for (const f of [eu, us]) f.setBehavior('gpt-4o-mini', { latencyMs: 400 });
    app = await startApp(options({ strategy: 'least-busy', deployments: [{ name: 'eu', baseURL: eu.url }, { name: 'us', baseURL: us.url }] }));
    // each request starts once the one before it is in flight upstream
    const pending: Promise<request.Response>[] = [];
    for (let i = 1; i <= 4; i++) {
      pending.push(request(app.server).post('/complete').send(ask()).then((r) => r));
      await waitFor(() => eu.stats().pending + us.stats().pending === i);
    }
    expect([eu.stats().pending, us.stats().pending]).toEqual([2, 2]);
    const models = (await Promise.all(pending)).map((r) => r.body.model as string);
    expect(models.filter((m) => m === 'gpt/eu')).toHaveLength(2);
    expect(models.every((m) => m.startsWith('gpt/'))).toBe(true);
  });

  it('lowest-latency: once both are measured, requests go to the faster deployment', async () => {
    eu.setBehavior('gpt-4o-mini', { latencyMs: 150 });
    app = await startApp(options({ strategy: 'lowest-latency', deployments: [{ name: 'eu', baseURL: eu.url }, { name: 'us', baseURL: us.url }] }));
    const models: string[] = [];
    for (let i = 0; i < 6; i++) models.push((await request(app.server).post('/complete').send(ask())).body.model);
    // the first two requests measure one deployment each (one with no sample goes first); the rest go to `us`
    expect(eu.stats().requests).toBe(1);
    expect(us.stats().requests).toBe(5);
    expect(models.slice(2)).toEqual(['gpt/us', 'gpt/us', 'gpt/us', 'gpt/us']);
    const latency = app.llm.status().models.find((m) => m.name === 'gpt/eu')?.latency['*'];
    expect(latency?.samples).toBe(1);
  });

  it('lowest-latency streams are ordered by time to first token', async () => {
    eu.setBehavior('gpt-4o-mini', { latencyMs: 150 });
    engine = createEngine(options({ strategy: 'lowest-latency', deployments: [{ name: 'eu', baseURL: eu.url }, { name: 'us', baseURL: us.url }] }));
    const models: string[] = [];
    for (let i = 0; i < 5; i++) {
      models.push((await engine.stream(ask()).final()).model);
    }
    expect(eu.stats().requests).toBe(1);
    expect(models.slice(2)).toEqual(['gpt/us', 'gpt/us', 'gpt/us']);
  });

  it('weighted (the default): the first deployment tried follows the weights', async () => {
    engine = createEngine(options({ deployments: [{ name: 'eu', baseURL: eu.url, weight: 3 }, { name: 'us', baseURL: us.url }] }));
    const total = 400;
    for (let i = 0; i < total; i += 20) await Promise.all(Array.from({ length: 20 }, () => engine!.complete(ask())));
    const share = eu.stats().requests / total;
    // 0.75 expected; the margin is more than 4 standard deviations (about 0.022 each)
    expect(share).toBeGreaterThan(0.65);
    expect(share).toBeLessThan(0.85);
    expect(eu.stats().requests + us.stats().requests).toBe(total);
  });
});
