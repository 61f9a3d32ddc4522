/**
 * A ChatProvider written the way an app writes one, over its own model service, takes part in every behaviour of
 * the library, seen through Koa routes over real HTTP: fallback to it and from it, timeouts that abort its
 * signal, its breaker opening, probing and closing, 429 cool-downs from what it throws, caching and
 * single-flight, streaming with both mid-stream policies, events, Prometheus metrics and cost.
 *
 * Real timers: the route, the model service and the OpenAI-compatible fake are real HTTP servers on loopback, whose
 * sockets and streams need the real event loop (jest's fake clock would freeze them). Timings have wide margins.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import request from 'supertest';
import { llmResilience, metricsMiddleware, type ChatProvider, type LlmEventMap, type LlmResilienceMiddleware, type LlmResilienceOptions, type ProviderCall, type ProviderStreamPart } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';
import type { AttemptRecord, CompletionRequest } from '../../lib/types';
import { listen, type Listening, readJson, sleep, waitFor } from '../helpers/app';

// ---------------------------------------------------------------------------------------------------------------
// The app's own model service (what a company's internal inference API would be), scriptable per request.

type Behaviour =
  | { kind: 'answer'; text?: string; latencyMs?: number; usage?: { in: number; out: number } }
  /** Answers this status; `retryAfterMs` as a `retry-after-ms` header. */
  | { kind: 'status'; status: number; retryAfterMs?: number }
  /** Never answers (until the client goes away). */
  | { kind: 'hang' }
  /** Streams only: sends `afterChars` characters of `text`, then resets the connection. */
  | { kind: 'cut'; text: string; afterChars: number }
  /** Streams only: continues the trailing assistant message of the request with the rest of `text`. */
  | { kind: 'continue'; text: string };

interface ModelService {
  url: string;
  /** Every request it received: path and body. */
  received: { path: string; body: { model: string; messages: { role: string; content: string }[]; max_tokens?: number } }[];
  /** Requests whose client went away before the answer was complete. */
  abandoned: number;
  next(...b: Behaviour[]): void;
  setDefault(b: Behaviour): void;
  close(): Promise<void>;
}

async function startModelService(): Promise<ModelService> {
  const queue: Behaviour[] = [];
  let fallback: Behaviour = { kind: 'answer' };
  const received: ModelService['received'] = [];
  const svc = { abandoned: 0 } as ModelService;
  const server = http.createServer(async (req, res) => {
    const body = (await readJson(req)) as ModelService['received'][number]['body'];
    received.push({ path: req.url ?? '', body });
    res.on('close', () => {
      if (!res.writableFinished) svc.abandoned++;
    });
    const b = queue.length > 0 ? (queue.shift() as Behaviour) : fallback;
    const stream = req.url === '/v1/stream';
    if (b.kind === 'hang') return;
    if (b.kind === 'status') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...(b.retryAfterMs !== undefined ? { 'retry-after-ms': String(b.retryAfterMs) } : {}) });
      return res.end(JSON.stringify({ error: 'nope' }));
    }
    if (b.kind === 'answer') await sleep(b.latencyMs ?? 0);
    const usage = b.kind === 'answer' && b.usage ? b.usage : { in: 7, out: 11 };
    let text = b.kind === 'answer' ? (b.text ?? `internal answer to ${body.messages.at(-1)?.content}`) : b.text;
    if (b.kind === 'continue') {
      const last = body.messages.at(-1);
      text = last?.role === 'assistant' && text.startsWith(last.content) ? text.slice(last.content.length) : text;
    }
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ text, done: 'stop', usage }));
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const sent = b.kind === 'cut' ? text.slice(0, b.afterChars) : text;
    for (let i = 0; i < sent.length; i += 5) {
      res.write(`${JSON.stringify({ t: 'text', text: sent.slice(i, i + 5) })}\n`);
      await sleep(5);
    }
    if (b.kind === 'cut') return res.destroy();
    res.end(`${JSON.stringify({ t: 'finish', done: 'stop', usage })}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  svc.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  svc.received = received;
  svc.next = (...b) => void queue.push(...b);
  svc.setDefault = (b) => {
    fallback = b;
  };
  svc.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return svc;
}

// ---------------------------------------------------------------------------------------------------------------
// The provider, as a user writes it against the public API only.

interface WireAnswer {
  text: string;
  done: 'stop' | 'length';
  usage: { in: number; out: number };
}

/** What the test watches of the provider: each call's signal, and close(). */
interface Watched {
  signals: AbortSignal[];
  closed: number;
}

function internalProvider(baseUrl: string, watched: Watched): ChatProvider {
  const post = async (path: string, call: ProviderCall): Promise<Response> => {
    watched.signals.push(call.signal);
    const res = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      signal: call.signal, // aborted on a timeout, a lost hedge or a client that left
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: call.model, messages: call.messages, max_tokens: call.maxTokens }),
    });
    if (!res.ok) {
      const retryAfterMs = Number(res.headers.get('retry-after-ms'));
      await res.body?.cancel();
      // the app's own error shape: any error with a numeric status is read as an HTTP answer
      throw Object.assign(new Error(`internal model service answered ${res.status}`), { status: res.status, ...(retryAfterMs > 0 ? { retryAfterMs } : {}) });
    }
    return res;
  };
  return {
    async complete(call) {
      const body = (await (await post('/v1/generate', call)).json()) as WireAnswer;
      return { text: body.text, finishReason: body.done, usage: { promptTokens: body.usage.in, completionTokens: body.usage.out } };
    },
    async *stream(call): AsyncGenerator<ProviderStreamPart> {
      const res = await post('/v1/stream', call);
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl)) as { t: 'text'; text: string } | ({ t: 'finish' } & Omit<WireAnswer, 'text'>);
          buffered = buffered.slice(nl + 1);
          if (line.t === 'text') yield { type: 'text', text: line.text };
          else yield { type: 'finish', finishReason: line.done, usage: { promptTokens: line.usage.in, completionTokens: line.usage.out } };
        }
      }
    },
    close() {
      watched.closed++;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The app: llmResilience mounted in Koa, routes calling ctx.llm.complete / ctx.llm.stream / ctx.llm.sse.

let service: ModelService;
let fake: FakeLlm;
let llm: LlmResilienceMiddleware | null = null;
let server: Listening | null = null;
let watched: Watched;
let registry: Registry;

beforeEach(async () => {
  service = await startModelService();
  fake = await startFakeLlm();
  fake.setBehavior('gpt-fake', { text: 'from the openai-compatible model' });
  watched = { signals: [], closed: 0 };
  registry = new Registry();
});
afterEach(async () => {
  await llm?.close();
  await server?.close();
  llm = null;
  server = null;
  await service.close();
  await fake.close();
});

/** `internal` (the app's provider) then `openai` (the OpenAI-compatible fake), unless `models` says otherwise. */
async function startApp(options: Partial<LlmResilienceOptions> & { internal?: object } = {}): Promise<string> {
  const { internal, ...rest } = options;
  llm = llmResilience({
    models: [
      { name: 'internal', model: 'int-1', provider: internalProvider(service.url, watched), price: { inputPerMTok: 3, outputPerMTok: 15 }, ...internal },
      { name: 'openai', model: 'gpt-fake', baseURL: fake.url, apiKey: 'test-key', timeoutMs: 3_000 },
    ],
    adaptiveTimeout: false,
    tracing: false,
    cache: { scope: (ctx) => (ctx as Koa.Context).get('x-tenant') },
    ...rest,
  });
  const app = new Koa();
  app.use(metricsMiddleware(llm, { registry }));
  app.use(llm);
  const router = new Router();
  router.post('/complete', async (ctx) => {
    ctx.body = await ctx.llm.complete((await readJson(ctx.req)) as CompletionRequest);
  });
  router.post('/sse', async (ctx) => ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest));
  router.post('/stream', async (ctx) => {
    const stream = ctx.llm.stream((await readJson(ctx.req)) as CompletionRequest);
    const deltas: string[] = [];
    try {
      for await (const d of stream) deltas.push(d);
      ctx.body = { deltas, result: await stream.result };
    } catch (err) {
      const e = err as { code?: string; deliveredChars?: number; attempts?: AttemptRecord[] };
      ctx.body = { deltas, error: { code: e.code, deliveredChars: e.deliveredChars, attempts: e.attempts } };
    }
  });
  app.use(router.routes());
  server = await listen(app);
  return server.url;
}

const ask = (content = 'hello', extra: Partial<CompletionRequest> = {}) => ({ messages: [{ role: 'user', content }], ...extra });
const outcomes = (attempts: AttemptRecord[]) => attempts.map((a) => `${a.model}:${a.outcome}`);
function events<K extends keyof LlmEventMap>(...names: K[]): { name: K; payload: LlmEventMap[K] }[] {
  const seen: { name: K; payload: LlmEventMap[K] }[] = [];
  for (const name of names) llm!.on(name, (payload) => seen.push({ name, payload }));
  return seen;
}
async function sse(url: string, body: object): Promise<{ events: { event: string; data: Record<string, unknown> }[]; text: string }> {
  const raw = await fetch(`${url}/sse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.text());
  const evs = [...raw.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) as Record<string, unknown> }));
  return { events: evs, text: evs.filter((e) => e.event === 'delta').map((e) => e.data.text as string).join('') };
}
const metricsText = async (url: string): Promise<string> => (await request(url).get('/metrics').expect(200)).text;

const FULL = 'Once upon a time there was a small model that kept answering.';

describe('a ChatProvider of the app\'s own, through a Koa route', () => {
  it('answers first, with its usage and cost from the model\'s price; the OpenAI-compatible model is not asked', async () => {
    service.setDefault({ kind: 'answer', text: 'from my service', usage: { in: 1_000, out: 2_000 } });
    const url = await startApp();
    const r = await request(url).post('/complete').send(ask('hi', { maxTokens: 300 })).expect(200);
    expect(r.body).toMatchObject({ model: 'internal', providerModel: 'int-1', text: 'from my service', fallback: false, cached: false });
    expect(r.body.usage).toMatchObject({ promptTokens: 1_000, completionTokens: 2_000, totalTokens: 3_000 });
    expect(r.body.usage.costUsd).toBeCloseTo(1_000 * 3e-6 + 2_000 * 15e-6, 10);
    expect(service.received).toEqual([{ path: '/v1/generate', body: { model: 'int-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 300 } }]);
    expect(fake.requests('gpt-fake')).toHaveLength(0);
    // a platform AbortSignal, as fetch requires (Node 24's rejects any look-alike)
    expect(Object.prototype.toString.call(watched.signals[0])).toBe('[object AbortSignal]');
    expect(llm!.status().models[0].spend).toMatchObject({ requests: 1, promptTokens: 1_000, completionTokens: 2_000 });
    expect(llm!.status().models[0].spend.costUsd).toBeCloseTo(0.033, 10);
  });

  it('falls back from it (a 503 it throws) and to it (the OpenAI-compatible model failing); events tell each step', async () => {
    service.next({ kind: 'status', status: 503 });
    // fallback and its events alone: no same-model retry of the 503 or the 500
    const url = await startApp({ retry: false });
    const seen = events('attempt', 'fallback', 'request');
    const from = await request(url).post('/complete').send(ask('one')).expect(200);
    expect(from.body).toMatchObject({ model: 'openai', fallback: true, text: 'from the openai-compatible model' });
    expect(outcomes(from.body.attempts)).toEqual(['internal:error', 'openai:success']);
    expect(from.body.attempts[0].status).toBe(503);
    expect(from.body.attempts[0].message).not.toMatch(/internal model service/); // its own message never reaches a caller

    fake.setBehavior('gpt-fake', { mode: 'error', status: 500 });
    const to = await request(url).post('/complete').send(ask('two', { models: ['openai', 'internal'] })).expect(200);
    expect(to.body).toMatchObject({ model: 'internal', fallback: true, text: 'internal answer to two' });
    expect(outcomes(to.body.attempts)).toEqual(['openai:error', 'internal:success']);
    expect(service.received).toHaveLength(2);
    expect(fake.requests('gpt-fake')).toHaveLength(2);

    await waitFor(() => seen.filter((s) => s.name === 'request').length === 2);
    expect(seen.map((s) => (s.name === 'attempt' ? `attempt ${(s.payload as LlmEventMap['attempt']).model}:${(s.payload as LlmEventMap['attempt']).outcome}` : s.name === 'fallback' ? `fallback ${(s.payload as LlmEventMap['fallback']).from}>${(s.payload as LlmEventMap['fallback']).to}` : `request ${(s.payload as LlmEventMap['request']).model}`))).toEqual([
      'attempt internal:error',
      'fallback internal>openai',
      'attempt openai:success',
      'request openai',
      'attempt openai:error',
      'fallback openai>internal',
      'attempt internal:success',
      'request internal',
    ]);
    const requests = seen.filter((s) => s.name === 'request').map((s) => s.payload as LlmEventMap['request']);
    expect(requests[0]).toMatchObject({ kind: 'complete', chain: ['internal', 'openai'], outcome: 'success', fallback: true });
    expect(requests[1]).toMatchObject({ chain: ['openai', 'internal'], outcome: 'success', model: 'internal' });
  });

  it('its timeout aborts its signal (the service sees the request abandoned) and the next model answers', async () => {
    service.setDefault({ kind: 'hang' });
    const url = await startApp({ internal: { timeoutMs: 200 } });
    const t0 = Date.now();
    const r = await request(url).post('/complete').send(ask()).expect(200);
    const took = Date.now() - t0;
    expect(outcomes(r.body.attempts)).toEqual(['internal:timeout', 'openai:success']);
    expect(r.body.attempts[0].latencyMs).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(2_500);
    expect(watched.signals).toHaveLength(1);
    expect(watched.signals[0].aborted).toBe(true);
    await waitFor(() => service.abandoned === 1);
    expect(llm!.status().models[0].failures).toBe(1);
  });

  it('a client that leaves aborts its signal: nothing else is asked, and it is not counted against the model', async () => {
    service.setDefault({ kind: 'hang' });
    const url = await startApp({ internal: { timeoutMs: 5_000 } });
    const seen = events('attempt', 'request');
    const ac = new AbortController();
    const leaving = fetch(`${url}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask()), signal: ac.signal }).catch((e: unknown) => e);
    await waitFor(() => service.received.length === 1);
    ac.abort();
    expect(await leaving).toMatchObject({ name: 'AbortError' });
    await waitFor(() => watched.signals[0]?.aborted === true);
    await waitFor(() => service.abandoned === 1);
    await waitFor(() => seen.some((s) => s.name === 'request'));
    expect(seen.find((s) => s.name === 'attempt')?.payload).toMatchObject({ model: 'internal', outcome: 'cancelled' });
    expect(seen.find((s) => s.name === 'request')?.payload).toMatchObject({ outcome: 'aborted' });
    expect(fake.requests('gpt-fake')).toHaveLength(0);
    expect(llm!.status().models[0]).toMatchObject({ failures: 0, successes: 0, inFlight: 0 });
  });

  it('its breaker opens on its failures (no more calls), half-opens after resetTimeoutMs, and one probe closes it', async () => {
    service.setDefault({ kind: 'status', status: 500 });
    // the breaker alone: one call per request (no same-model retry) and a probe that answers by itself (no rescue)
    const url = await startApp({ breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 400, rollingWindowMs: 30_000 }, retry: false, rescue: false });
    const changes = events('breaker:open', 'breaker:half_open', 'breaker:close');
    for (let i = 0; i < 3; i++) await request(url).post('/complete').send(ask(`q${i}`)).expect(200);
    expect(llm!.status().models[0].state).toBe('open');
    expect(changes.map((c) => c.name)).toEqual(['breaker:open']);
    expect((await metricsText(url))).toMatch(/^llm_breaker_state\{model="internal"\} 2$/m);

    const skipped = await request(url).post('/complete').send(ask('while open')).expect(200);
    expect(skipped.body.attempts[0]).toMatchObject({ model: 'internal', outcome: 'circuit_open', latencyMs: 0 });
    expect(service.received).toHaveLength(3);

    service.setDefault({ kind: 'answer', text: 'back again' });
    await waitFor(() => changes.length === 2, 3_000);
    expect(changes[1]).toEqual({ name: 'breaker:half_open', payload: { model: 'internal' } });
    expect(llm!.status().models[0].state).toBe('half_open');
    expect((await metricsText(url))).toMatch(/^llm_breaker_state\{model="internal"\} 1$/m);

    const probe = await request(url).post('/complete').send(ask('probe')).expect(200);
    expect(probe.body).toMatchObject({ model: 'internal', text: 'back again', fallback: false });
    expect(service.received).toHaveLength(4);
    expect(llm!.status().models[0].state).toBe('closed');
    expect(changes.map((c) => c.name)).toEqual(['breaker:open', 'breaker:half_open', 'breaker:close']);
    expect((await metricsText(url))).toMatch(/^llm_breaker_state\{model="internal"\} 0$/m);
  });

  it('a thrown { status: 429, retryAfterMs } cools it down: no call during the cool-down, called again after it', async () => {
    service.next({ kind: 'status', status: 429, retryAfterMs: 600 });
    // the cool-down alone: no same-model retry after the retry-after
    const url = await startApp({ retry: false });
    const seen = events('cooldown');
    const t0 = Date.now();
    const limited = await request(url).post('/complete').send(ask('a')).expect(200);
    expect(outcomes(limited.body.attempts)).toEqual(['internal:rate_limited', 'openai:success']);
    expect(seen).toHaveLength(1);
    expect(seen[0].payload).toMatchObject({ model: 'internal', ms: 600 });
    expect(seen[0].payload.until).toBeGreaterThanOrEqual(t0 + 600);
    expect(seen[0].payload.until).toBeLessThanOrEqual(Date.now() + 600);
    expect(llm!.status().models[0]).toMatchObject({ cooldownUntil: seen[0].payload.until, state: 'closed', failures: 0 });

    const during = await request(url).post('/complete').send(ask('b')).expect(200);
    expect(during.body.attempts[0]).toMatchObject({ model: 'internal', outcome: 'rate_limited', latencyMs: 0 });
    expect(service.received).toHaveLength(1);
    expect(await metricsText(url)).toMatch(/^llm_cooldowns_total\{model="internal"\} 1$/m);

    await sleep(Math.max(0, seen[0].payload.until - Date.now()) + 50);
    const after = await request(url).post('/complete').send(ask('c')).expect(200);
    expect(after.body).toMatchObject({ model: 'internal', fallback: false });
    expect(service.received).toHaveLength(2);
  });

  it('is cached and single-flight: identical concurrent requests make one call; a tenant never gets another\'s entry', async () => {
    service.setDefault({ kind: 'answer', text: 'shared answer', latencyMs: 150 });
    const url = await startApp();
    const hits = events('cache:hit');
    const same = () => request(url).post('/complete').set('x-tenant', 't1').send(ask('same question'));
    const all = await Promise.all([same(), same(), same()]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(all.map((r) => r.body.text)).toEqual(['shared answer', 'shared answer', 'shared answer']);
    expect(all.map((r) => r.body.coalesced).sort()).toEqual([false, true, true]);
    expect(service.received).toHaveLength(1);

    const hit = await same().expect(200);
    expect(hit.body).toMatchObject({ cached: true, model: 'internal' });
    expect(hits).toHaveLength(1);
    expect(service.received).toHaveLength(1);

    const other = await request(url).post('/complete').set('x-tenant', 't2').send(ask('same question')).expect(200);
    expect(other.body.cached).toBe(false);
    expect(service.received).toHaveLength(2);
    expect(await metricsText(url)).toMatch(/^llm_cache_lookups_total\{result="hit"\} 1$/m);
  });

  it('streams its parts through ctx.llm.sse; a cache hit is replayed as a stream', async () => {
    service.setDefault({ kind: 'answer', text: FULL });
    const url = await startApp();
    const first = await sse(url, ask('tell me'));
    expect(first.events.filter((e) => e.event === 'delta').length).toBeGreaterThan(3);
    expect(first.text).toBe(FULL);
    expect(first.events.at(-1)).toMatchObject({ event: 'done', data: { model: 'internal', fallback: false, cached: false, resumed: false, finishReason: 'stop' } });
    expect(service.received.map((r) => r.path)).toEqual(['/v1/stream']);
    const replay = await sse(url, ask('tell me'));
    expect(replay.text).toBe(FULL);
    expect(replay.events.at(-1)).toMatchObject({ event: 'done', data: { model: 'internal', cached: true } });
    expect(service.received).toHaveLength(1);
  });

  it('its first-token timeout aborts its stream\'s signal, and the next model streams instead', async () => {
    service.setDefault({ kind: 'hang' });
    const url = await startApp({ internal: { timeoutMs: 3_000, firstTokenTimeoutMs: 200 } });
    const r = await sse(url, ask('tell me'));
    expect(r.text).toBe('from the openai-compatible model');
    expect(outcomes(r.events.at(-1)!.data.attempts as AttemptRecord[])).toEqual(['internal:timeout', 'openai:success']);
    expect(watched.signals[0].aborted).toBe(true);
    await waitFor(() => service.abandoned === 1);
  });

  it("midStream 'error': its stream cut after the first token ends with STREAM_INTERRUPTED; no other model is asked", async () => {
    service.setDefault({ kind: 'cut', text: FULL, afterChars: 15 });
    const url = await startApp();
    const viaSse = await sse(url, ask('tell me'));
    expect(viaSse.text).toBe(FULL.slice(0, 15));
    expect(viaSse.events.map((e) => e.event)).not.toContain('done');
    expect(viaSse.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'STREAM_INTERRUPTED' } });

    const viaStream = await request(url).post('/stream').send(ask('tell me again')).expect(200);
    expect(viaStream.body.deltas.join('')).toBe(FULL.slice(0, 15));
    expect(viaStream.body.error).toMatchObject({ code: 'STREAM_INTERRUPTED', deliveredChars: 15 });
    expect(outcomes(viaStream.body.error.attempts)).toEqual(['internal:error']);
    expect(fake.requests('gpt-fake')).toHaveLength(0);
  });

  it("midStream 'continue': a prefill model continues its interrupted answer, and it continues another model's", async () => {
    // it is cut; the OpenAI-compatible model (prefill: true) continues
    service.next({ kind: 'cut', text: FULL, afterChars: 20 });
    fake.setBehavior('gpt-fake', { text: FULL, prefill: 'continue' });
    llm = llmResilience({
      models: [
        { name: 'internal', model: 'int-1', provider: internalProvider(service.url, watched), prefill: true },
        { name: 'openai', model: 'gpt-fake', baseURL: fake.url, apiKey: 'test-key', prefill: true },
      ],
      midStream: 'continue',
      cache: false,
      tracing: false,
    });
    const app = new Koa();
    app.use(llm);
    const router = new Router();
    router.post('/sse', async (ctx) => ctx.llm.sse((await readJson(ctx.req)) as CompletionRequest));
    app.use(router.routes());
    server = await listen(app);
    const continued = await sse(server.url, ask('tell me'));
    expect(continued.text).toBe(FULL);
    expect(continued.events.at(-1)).toMatchObject({ event: 'done', data: { resumed: true, model: 'openai' } });
    const sentToOpenai = fake.requests('gpt-fake')[0].body as { messages: { role: string; content: string }[] };
    expect(sentToOpenai.messages.at(-1)).toEqual({ role: 'assistant', content: FULL.slice(0, 20) });

    // the OpenAI-compatible model is cut; the app's own provider (prefill: true) continues
    fake.setBehavior('gpt-fake', { mode: 'cut', text: FULL, failAfterChunks: 3 });
    service.next({ kind: 'continue', text: FULL });
    const other = await sse(server.url, ask('tell me', { models: ['openai', 'internal'] }));
    expect(other.text).toBe(FULL);
    expect(other.events.at(-1)).toMatchObject({ event: 'done', data: { resumed: true, model: 'internal' } });
    const sentToService = service.received.at(-1)!.body.messages;
    expect(sentToService.at(-1)?.role).toBe('assistant');
    expect(FULL.startsWith(sentToService.at(-1)!.content)).toBe(true);
    expect(sentToService.at(-1)!.content.length).toBeGreaterThan(0);
  });

  it('the metrics handler names it: attempts, fallbacks, requests, tokens and cost per model', async () => {
    service.next({ kind: 'status', status: 502 });
    service.setDefault({ kind: 'answer', usage: { in: 100_000, out: 10_000 } });
    // a fallback counted per model: no same-model retry of the 502
    const url = await startApp({ retry: false });
    await request(url).post('/complete').send(ask('one')).expect(200);
    await request(url).post('/complete').send(ask('two')).expect(200);
    const text = await metricsText(url);
    expect(text).toMatch(/^llm_attempts_total\{model="internal",outcome="error"\} 1$/m);
    expect(text).toMatch(/^llm_attempts_total\{model="internal",outcome="success"\} 1$/m);
    expect(text).toMatch(/^llm_attempts_total\{model="openai",outcome="success"\} 1$/m);
    expect(text).toMatch(/^llm_fallbacks_total\{from="internal",to="openai",reason="error"\} 1$/m);
    expect(text).toMatch(/^llm_requests_total\{outcome="success",model="internal",cached="false"\} 1$/m);
    expect(text).toMatch(/^llm_tokens_total\{model="internal",kind="prompt"\} 100000$/m);
    expect(text).toMatch(/^llm_tokens_total\{model="internal",kind="completion"\} 10000$/m);
    const cost = Number(/^llm_cost_usd_total\{model="internal"\} (\S+)$/m.exec(text)?.[1]);
    expect(cost).toBeCloseTo(100_000 * 3e-6 + 10_000 * 15e-6, 9);
    expect(text).toMatch(/^llm_attempt_duration_seconds_count\{model="internal",task="",outcome="success"\} 1$/m);
  });

  it('close() closes it once', async () => {
    await startApp();
    await llm!.close();
    expect(watched.closed).toBe(1);
  });
});
