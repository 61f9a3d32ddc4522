/**
 * `exposeHeaders`: whatever a model is named (CR/LF, NUL, controls, spaces, `%`, any Unicode, lone surrogates),
 * the response is answered with well-formed `x-llm-*` headers that read back as the name, and nothing else is
 * added to it. Over real HTTP, through Koa.
 */
import fc from 'fast-check';
import request from 'supertest';
import { headerSafeName, isPlainHeaderValue, llmHeaderValues } from '../../lib/http/llm-header-values';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import { startApp } from '../helpers/app';

const names = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.constantFrom('gpt\r\nx-injected: 1', 'a\nb', 'nul\0', '%41', 'model 4', ' padded ', 'модель', '模型', '\ud800', 'ok-name_1.2:3'),
);

describe('x-llm-* header values', () => {
  it('every name becomes visible ASCII that decodes back to it (lone surrogates as U+FFFD)', () => {
    fc.assert(
      fc.property(names, fc.boolean(), fc.constantFrom<boolean | 'semantic'>(true, false, 'semantic'), fc.integer(), (name, fallback, cached, attempts) => {
        const values = llmHeaderValues(name, fallback, cached, attempts);
        for (const v of Object.values(values)) expect(isPlainHeaderValue(v)).toBe(true);
        expect(decodeURIComponent(values['x-llm-model'])).toBe(Buffer.from(name, 'utf8').toString('utf8'));
        expect(values['x-llm-attempts']).toMatch(/^\d+$/);
      }),
      { numRuns: 500 },
    );
    expect(headerSafeName('gpt-4o-mini')).toBe('gpt-4o-mini');
  });

  it('through Koa, a model of any name answers with well-formed headers, never a 500', async () => {
    const fake: FakeLlm = await startFakeLlm();
    try {
      await fc.assert(
        fc.asyncProperty(names.filter((n) => n !== 'other'), async (name) => {
          const app = await startApp({
            models: [
              { name, model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
              { name: 'other', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
            ],
            cache: false,
            exposeHeaders: true,
          });
          try {
            const res = await request(app.url).post('/complete').send({ messages: [{ role: 'user', content: 'hi' }] });
            expect(res.status).toBe(200);
            expect(res.body.model).toBe(name);
            expect(decodeURIComponent(res.headers['x-llm-model'])).toBe(Buffer.from(name, 'utf8').toString('utf8'));
            expect(res.headers['x-injected']).toBeUndefined();
            expect(res.headers['x-llm-cache']).toBe('miss');
          } finally {
            await app.close();
          }
        }),
        { numRuns: 40 },
      );
    } finally {
      await fake.close();
    }
  });
});
