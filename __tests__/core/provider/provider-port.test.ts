import { LlmEngine } from '../../../lib/core/engine';
import type { Embedder, EmbedderSettings } from '../../../lib/core/cache/semantic/embedder';
import type { DefaultProvider } from '../../../lib/core/provider/provider-port';
import { UpstreamHttpError } from '../../../lib/core/upstream/upstream-errors';
import type { ResolvedModel } from '../../../lib/core/options/resolve-options';

/** A default provider of a test's own: answers `{ said }`, fails with `{ down: true }` for model `b`. */
function fakeProvider(calls: string[]): DefaultProvider {
  return {
    create: (model: ResolvedModel) => {
      calls.push(model.name);
      return model.name === 'a' ? Promise.reject({ down: true }) : Promise.resolve({ said: `hi from ${model.model}` });
    },
    answerOf: (raw, model) => ({ text: (raw as { said: string }).said, finishReason: 'stop', providerModel: model.model, usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } }),
    failureOf: (err) => ((err as { down?: boolean }).down ? new UpstreamHttpError('down', { status: 503 }) : err),
    async *stream(model: ResolvedModel) {
      yield { delta: `streamed by ${model.model}` };
      yield { finishReason: 'stop' };
    },
    close: async () => undefined,
  };
}

describe('the core with injected defaults', () => {
  it('calls the default provider it is given, reads its failures through failureOf, and closes it', async () => {
    const calls: string[] = [];
    const closed = jest.fn(async () => undefined);
    const embedders: EmbedderSettings[] = [];
    const embedder = (settings: EmbedderSettings): Embedder => {
      embedders.push(settings);
      return { embed: async (texts) => texts.map(() => [1, 0]) };
    };
    const engine = new LlmEngine(
      { models: [{ name: 'a', model: 'model-a' }, { name: 'b', model: 'model-b' }], cache: { semantic: { embeddingModel: 'e', apiKey: 'k' } } },
      { provider: () => ({ ...fakeProvider(calls), close: closed }), embedder },
    );
    try {
      const r = await engine.complete({ prompt: 'x', cache: false });
      expect(r).toMatchObject({ text: 'hi from model-b', model: 'b', fallback: true });
      expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'error', status: 503 });
      expect(calls).toEqual(['a', 'a', 'b']); // the 503 failureOf reads is transient: retried once on a
      const s = engine.stream({ prompt: 'y', models: ['b'] });
      let text = '';
      for await (const d of s) text += d;
      expect(text).toBe('streamed by model-b');
      expect(embedders).toEqual([{ model: 'e', baseURL: undefined, apiKey: 'k', fetch: undefined }]);
    } finally {
      await engine.close();
    }
    expect(closed).toHaveBeenCalledTimes(1);
  });

  it('makes no default provider when every model has its own', async () => {
    const factory = jest.fn();
    const engine = new LlmEngine(
      { models: [{ name: 'own', model: 'm', provider: { complete: async () => ({ text: 'ok', finishReason: 'stop' }) } }], cache: false },
      { provider: factory, embedder: () => ({ embed: async () => [] }) },
    );
    await expect(engine.complete({ prompt: 'x' })).resolves.toMatchObject({ text: 'ok' });
    await engine.close();
    expect(factory).not.toHaveBeenCalled();
  });
});
