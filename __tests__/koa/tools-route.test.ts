/**
 * Tools in a Koa route: ctx.llm.complete with tools (a bad call from the primary fails over), ctx.llm.stream's
 * parts(), and ctx.llm.sse's `tool_call` events, over real HTTP against the fake provider.
 */
import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { llmResilience, type LlmResilienceMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { CompletionRequest, StreamPart } from '../../lib/types';
import { listen, type Listening, readJson } from '../helpers/app';

let fake: FakeLlm;
let llm: LlmResilienceMiddleware;
let served: Listening;
beforeAll(async () => {
  fake = await startFakeLlm();
  llm = llmResilience({
    models: [
      { name: 'primary', model: 'p', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
      { name: 'backup', model: 'b', baseURL: fake.url, apiKey: 'k', timeoutMs: 2000 },
    ],
    cache: false,
  });
  const router = new Router();
  router.post('/complete', async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest);
  });
  router.post('/parts', async (ctx) => {
    const parts: StreamPart[] = [];
    for await (const p of ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest).parts()) parts.push(p);
    ctx.body = parts;
  });
  router.post('/sse', async (ctx) => {
    await ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest);
  });
  const app = new Koa();
  app.use(llm);
  app.use(router.routes());
  served = await listen(app);
});
afterAll(async () => {
  await llm.close();
  await served.close();
  await fake.close();
});

const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } }];
const body = { messages: [{ role: 'user', content: 'find it' }], tools };

it('ctx.llm.complete: the primary\'s call with bad arguments fails over; the route gets the backup\'s tool calls', async () => {
  fake.setBehavior('p', { toolCalls: [{ name: 'lookup', arguments: { query: 'x' } }] });
  fake.setBehavior('b', { toolCalls: [{ name: 'lookup', arguments: { q: 'x' } }] });
  const r = await request(served.url).post('/complete').send(body).expect(200);
  expect(r.body).toMatchObject({ model: 'backup', finishReason: 'tool_calls', toolCalls: [{ type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] });
  expect(r.body.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['invalid', 'success']);
});

it('ctx.llm.stream().parts(): text, then each tool call whole', async () => {
  fake.setBehavior('p', { text: 'Searching. ', toolCalls: [{ name: 'lookup', arguments: { q: 'y' } }] });
  const r = await request(served.url).post('/parts').send(body).expect(200);
  expect(r.body.filter((p: StreamPart) => p.type === 'text').map((p: { text: string }) => p.text).join('')).toBe('Searching. ');
  expect(r.body.at(-1)).toEqual({ type: 'tool-call', toolCall: { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"y"}' } } });
});

it('ctx.llm.sse: a tool_call event per call before done', async () => {
  fake.setBehavior('p', { toolCalls: [{ name: 'lookup', arguments: { q: 'z' } }] });
  const r = await request(served.url).post('/sse').send(body).buffer(true).parse((res, cb) => {
    let text = '';
    res.on('data', (c: Buffer) => (text += c.toString()));
    res.on('end', () => cb(null, text));
  });
  const events = (r.body as string).split('\n\n').filter(Boolean).map((f) => f.split('\n')[0]);
  expect(events).toEqual(['event: tool_call', 'event: done']);
  expect(r.body).toContain('"arguments":"{\\"q\\":\\"z\\"}"');
});
