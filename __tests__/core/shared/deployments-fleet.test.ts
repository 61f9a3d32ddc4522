/** Deployments' cool-downs and breakers are the fleet's, as models' are (the real Redis on 127.0.0.1:6379, as the other shared-state tests). */
import { randomUUID } from 'node:crypto';
import { createEngine, type LlmEngine, redisStore } from '../../../lib';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';
import { sleep, waitFor } from '../../helpers/app';

let eu: FakeLlm;
let us: FakeLlm;
let engines: LlmEngine[] = [];
let prefix: string;
beforeEach(async () => {
  [eu, us] = await Promise.all([startFakeLlm(), startFakeLlm()]);
  prefix = `klr-test-${randomUUID()}:`;
});
afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await Promise.all([eu.close(), us.close()]);
});

function engine(): LlmEngine {
  const e = createEngine({
    models: [{ name: 'gpt', model: 'g', apiKey: 'k', timeoutMs: 500, deployments: [{ name: 'eu', baseURL: eu.url }, { name: 'us', baseURL: us.url, weight: 0 }] }],
    breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    cache: false,
    retry: false, // moves between deployments alone: no same-model retry first
    shared: redisStore({ url: 'redis://127.0.0.1:6379', prefix, timeoutMs: 1000 }),
  });
  engines.push(e);
  return e;
}
const q = () => ({ messages: [{ role: 'user' as const, content: `fleet ${randomUUID()}` }] });
const entry = (e: LlmEngine, name: string) => e.status().models.find((m) => m.name === name);

describe('deployments with a shared store', () => {
  it("a deployment's 429 cool-down in one process is honoured by the other; the other deployment stays available", async () => {
    eu.setBehavior('g', { mode: 'rate_limit', retryAfterS: 3 });
    const a = engine();
    const b = engine();
    await sleep(100); // subscriptions up
    expect((await a.complete(q())).model).toBe('gpt/us');
    await waitFor(() => entry(b, 'gpt/eu')?.cooldownUntil != null, 1000);
    expect(entry(b, 'gpt/us')?.cooldownUntil).toBeNull();
    const rb = await b.complete(q());
    expect(rb.model).toBe('gpt/us');
    expect(rb.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'rate_limited', latencyMs: 0 });
    expect(eu.stats().requests).toBe(1);
  });

  it("a deployment's breaker opened in one process is open in the other", async () => {
    eu.setBehavior('g', { mode: 'error' });
    const a = engine();
    const b = engine();
    await sleep(100);
    await a.complete(q());
    await a.complete(q());
    expect(entry(a, 'gpt/eu')?.state).toBe('open');
    await waitFor(() => entry(b, 'gpt/eu')?.state === 'open', 1000);
    expect(entry(b, 'gpt/us')?.state).toBe('closed');
    const rb = await b.complete(q());
    expect(rb.attempts[0]).toMatchObject({ model: 'gpt/eu', outcome: 'circuit_open' });
    expect(eu.stats().requests).toBe(2);
  });
});
