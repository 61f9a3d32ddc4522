/** A natively spoken model (Anthropic's Messages API, through its SDK) with two deployments, each a fake server on loopback. */
import { createEngine, type LlmEngine } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

let one: FakeLlm;
let two: FakeLlm;
let engine: LlmEngine | undefined;
beforeEach(async () => {
  [one, two] = await Promise.all([startFakeLlm(), startFakeLlm()]);
});
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  await Promise.all([one.close(), two.close()]);
});

describe("a native provider's deployments", () => {
  it('each deployment has a provider of its own: a 429 on the first is answered by the second', async () => {
    one.setBehavior('claude-x', { mode: 'rate_limit' });
    engine = createEngine({
      retry: false, // moves between deployments alone: no same-model retry first
      models: [
        {
          name: 'claude',
          provider: 'anthropic',
          model: 'claude-x',
          apiKey: 'k',
          timeoutMs: 2000,
          deployments: [
            { name: 'one', baseURL: `http://127.0.0.1:${one.port}` },
            { name: 'two', baseURL: `http://127.0.0.1:${two.port}`, apiKey: 'k2', weight: 0 },
          ],
        },
      ],
      cache: false,
    });
    const r = await engine.complete({ prompt: 'hello' });
    expect(r).toMatchObject({ model: 'claude/two', providerModel: 'claude-x', fallback: false });
    expect(r.attempts.map((a) => `${a.model} ${a.outcome}`)).toEqual(['claude/one rate_limited', 'claude/two success']);
    expect(one.stats().requests).toBe(1);
    expect(two.stats().requests).toBe(1);
  });
});
