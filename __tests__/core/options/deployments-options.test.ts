import { ConfigError, createEngine } from '../../../lib';
import { resolveOptions } from '../../../lib/core/options/resolve-options';
import type { LlmResilienceOptions } from '../../../lib/koa/types';

function problemsOf(options: unknown): { path: string; message: string }[] {
  try {
    resolveOptions(options as LlmResilienceOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.message).not.toMatch(/SECRET/);
    return [...e.problems];
  }
  throw new Error('no ConfigError');
}

describe('models[].deployments', () => {
  it('become one chain entry per deployment, named <model>/<deployment>, each with the model settings and its own', () => {
    const r = resolveOptions({
      maxConcurrent: 7,
      models: [
        {
          name: 'gpt',
          model: 'gpt-4o',
          apiKey: 'sk-model',
          timeoutMs: 900,
          contextWindow: 128_000,
          deployments: [
            { baseURL: 'https://eu.example.com/v1', apiKey: 'sk-eu', weight: 3 },
            { name: 'azure', baseURL: 'https://x.openai.azure.com/openai/v1', model: 'my-gpt4o', maxConcurrent: 2 },
          ],
          strategy: 'least-busy',
        },
        { model: 'small', apiKey: 'k' },
      ],
    });
    expect(r.models.map((m) => m.name)).toEqual(['gpt/eu.example.com', 'gpt/azure', 'small']);
    expect(r.models[0]).toMatchObject({
      model: 'gpt-4o',
      apiKey: 'sk-eu',
      baseURL: 'https://eu.example.com/v1',
      timeoutMs: 900,
      contextWindow: 128_000,
      maxConcurrent: 7,
      deployment: { group: 'gpt', name: 'eu.example.com', weight: 3, strategy: 'least-busy' },
    });
    expect(r.models[1]).toMatchObject({ model: 'my-gpt4o', apiKey: 'sk-model', maxConcurrent: 2, deployment: { group: 'gpt', name: 'azure', weight: 1 } });
    expect(r.models[2].deployment).toBeUndefined();
    expect(Object.isFrozen(r.models[0].deployment)).toBe(true);
  });

  it('default names: the host and port of baseURL, else the position; strategy defaults to weighted', () => {
    const r = resolveOptions({ models: [{ model: 'm', apiKey: 'k', deployments: [{ baseURL: 'http://127.0.0.1:4001/v1' }, { apiKey: 'k2' }] }] });
    expect(r.models.map((m) => m.name)).toEqual(['m/127.0.0.1:4001', 'm/1']);
    expect(r.models[0].deployment?.strategy).toBe('weighted');
  });

  it('a ConfigError names every bad field of the deployments (schema)', () => {
    const problems = problemsOf({
      models: [
        {
          model: 'm',
          apiKey: 'sk-SECRET',
          strategy: 'fastest',
          deployments: [{ weight: -1, region: 'eu' }, { name: '', maxConcurrent: 0, provider: 'azure' }, { baseURL: 5 }],
        },
        { model: 'n', deployments: [] },
      ],
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/models/0/strategy',
        '/models/0/deployments/0/weight',
        '/models/0/deployments/0/region',
        '/models/0/deployments/1/name',
        '/models/0/deployments/1/maxConcurrent',
        '/models/0/deployments/1/provider',
        '/models/0/deployments/2/baseURL',
        '/models/1/deployments',
      ]),
    );
  });

  it('a ConfigError names every bad deployment: duplicate names, bad URLs, names taken, strategy without deployments', () => {
    const problems = problemsOf({
      models: [
        {
          name: 'gpt',
          model: 'm',
          apiKey: 'k',
          deployments: [
            { baseURL: 'https://same.example.com/v1' },
            { baseURL: 'https://same.example.com/v2' },
            { name: 'x', baseURL: 'ftp://nope' },
            { name: 'y', baseURL: 'https://user:pw@host.example.com' },
            { name: 'z', provider: { complete: () => undefined, promptTokenScale: 50 } },
          ],
        },
        { name: 'gpt/x', model: 'm', apiKey: 'k' },
        { name: 'solo', model: 'm', apiKey: 'k', strategy: 'least-busy' },
        { name: 'idle', model: 'm', apiKey: 'k', deployments: [{ weight: 0 }, { weight: 0 }] },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: '/models/0/deployments/1/name', message: expect.stringMatching(/duplicates the name of \/models\/0\/deployments\/0 \("same.example.com", from its baseURL's host\)/) },
        { path: '/models/0/deployments/2/baseURL', message: 'must be an http(s) URL' },
        { path: '/models/0/deployments/3/baseURL', message: expect.stringMatching(/must not hold credentials/) },
        { path: '/models/0/deployments/4/provider', message: expect.stringMatching(/ChatProvider/) },
        { path: '/models/1/name', message: expect.stringMatching(/duplicates the name of \/models\/0\/deployments\/2 \("gpt\/x"\)/) },
        { path: '/models/2/strategy', message: 'applies only to a model with deployments' },
        { path: '/models/3/deployments', message: expect.stringMatching(/weight above 0/) },
      ]),
    );
    expect(JSON.stringify(problems)).not.toMatch(/user:pw|host\.example/);
  });

  it("a deployment's name may not make the name of a model given before it", () => {
    const problems = problemsOf({ models: [{ name: 'gpt/eu', model: 'm', apiKey: 'k' }, { name: 'gpt', model: 'm', apiKey: 'k', deployments: [{ name: 'eu' }, { name: 'us' }] }] });
    expect(problems).toEqual([{ path: '/models/1/deployments/0/name', message: 'makes "gpt/eu", already the name of /models/0' }]);
  });
});

describe('a deployment with no key', () => {
  it('is a ConfigError naming the deployment, when OPENAI_API_KEY is not set', () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      let err: unknown;
      try {
        createEngine({ models: [{ model: 'a', apiKey: 'k' }, { name: 'gpt', model: 'g', deployments: [{ name: 'eu', apiKey: 'k' }, { name: 'us' }] }] });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([{ path: '/models/1/deployments/1/apiKey', message: 'is required when OPENAI_API_KEY is not set' }]);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});
