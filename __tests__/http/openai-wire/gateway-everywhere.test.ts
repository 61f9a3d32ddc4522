/**
 * The OpenAI-compatible gateway answers like OpenAI for every request under its prefix, in Koa and in Express:
 * unknown routes (404) and wrong methods (405 with `Allow`) after the key check, `GET /models/{id}`, bodies that
 * are not JSON whichever body parser read them first (400), bodies over `maxBodyBytes` (413, refused without
 * reading them), images in data URLs passed through at the default limit, and `maxBodyBytes` checked at start-up.
 * Over real HTTP, the official openai SDK as the client where it applies, raw requests for everything else.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import express from 'express';
import fc from 'fast-check';
import Koa from 'koa';
import OpenAI from 'openai';
import { ConfigError, llmExpress, llmResilience, openAICompatibleExpress, openAICompatibleRouter } from '../../../lib';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';

const KEY = 'gateway-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
let fake: FakeLlm;

beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
afterEach(() => fake.setBehavior('big', {}));

type Adapter = 'koa' | 'express';

/** How the app around the gateway treats bodies. */
interface Variant {
  name: string;
  adapter: Adapter;
  /** A body parser mounted before the gateway (for Express: json, urlencoded and text, at their default limits). */
  parser: boolean;
  /** The gateway's `errorHandler` mounted too (Koa: before the parser; Express: after the gateway). */
  errorHandler: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'Koa, no body parser', adapter: 'koa', parser: false, errorHandler: false },
  { name: 'Koa, @koa/bodyparser before it', adapter: 'koa', parser: true, errorHandler: false },
  { name: 'Koa, @koa/bodyparser before it and the errorHandler first', adapter: 'koa', parser: true, errorHandler: true },
  { name: 'Express, no body parser', adapter: 'express', parser: false, errorHandler: false },
  { name: 'Express, express.json/urlencoded/text before it and the errorHandler after', adapter: 'express', parser: true, errorHandler: true },
];

interface Served {
  port: number;
  base: string;
  close(): Promise<void>;
}

const MODELS: LlmResilienceOptions['models'] = [
  { name: 'smart', model: 'big', baseURL: '', apiKey: 'k', timeoutMs: 5000 },
  { name: 'fast', model: 'small', baseURL: '', apiKey: 'k', timeoutMs: 5000 },
  { name: 'org/vision-1', model: 'vision', baseURL: '', apiKey: 'k', timeoutMs: 5000 },
];

async function start(v: Variant, gatewayExtra: { maxBodyBytes?: number; prefix?: string } = {}): Promise<Served> {
  const options: LlmResilienceOptions = { models: MODELS.map((m) => ({ ...m, baseURL: fake.url })), cache: false, breaker: { volumeThreshold: 1000 } };
  const gateway = { apiKeys: [KEY], aliases: { cheap: ['fast'] }, ...gatewayExtra };
  let handler: http.RequestListener;
  let close: () => Promise<void>;
  if (v.adapter === 'koa') {
    const llm = llmResilience(options);
    const router = openAICompatibleRouter(gateway);
    const app = new Koa();
    app.silent = true;
    if (v.errorHandler) app.use(router.errorHandler);
    if (v.parser) app.use(bodyParser({ enableTypes: ['json', 'form', 'text'] }));
    app.use(llm).use(router.routes()).use(router.allowedMethods());
    handler = app.callback();
    close = () => llm.close();
  } else {
    const llm = llmExpress(options as Parameters<typeof llmExpress>[0]);
    const gw = openAICompatibleExpress(gateway);
    const app = express();
    app.set('env', 'test');
    if (v.parser) app.use(express.json(), express.urlencoded(), express.text());
    app.use(llm, gw);
    if (v.errorHandler) app.use(gw.errorHandler);
    app.use((req, res) => {
      res.status(404).type('text/plain').send(`the app's own 404 for ${req.method} ${req.url}`);
    });
    handler = app;
    close = () => llm.close();
  }
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    base: `http://127.0.0.1:${port}/v1`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await close();
    },
  };
}

interface Answer {
  status: number;
  allow: string | undefined;
  contentType: string;
  body: unknown;
}

/** One request with the path and body bytes exactly as given. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const contentType = String(res.headers['content-type'] ?? '').split(';')[0];
        resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, contentType, body: contentType === 'application/json' && text !== '' ? JSON.parse(text) : text });
      });
    });
    req.end(body);
  });
}

const chat = (extra: object = {}) => ({ model: 'default', messages: [{ role: 'user', content: 'hello' }], ...extra });
/** OpenAI's error body, with its four fields. */
const openAIError = (status: number, fields: { message?: unknown; code?: unknown; param?: unknown } = {}) => ({
  status,
  contentType: 'application/json',
  body: { error: { message: fields.message ?? expect.any(String), type: 'invalid_request_error', param: fields.param ?? null, code: fields.code ?? null } },
});

describe.each(VARIANTS.map((v) => [v.name, v] as const))('the gateway: %s', (_name, v) => {
  let s: Served;
  beforeAll(async () => {
    s = await start(v);
  });
  afterAll(() => s.close());

  it('answers a path under its prefix that names no route with OpenAI\'s 404, and only with the key', async () => {
    const client = new OpenAI({ baseURL: s.base, apiKey: KEY, maxRetries: 0 });
    const before = fake.stats().requests;
    const err = await client.embeddings.create({ model: 'default', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, type: 'invalid_request_error', code: null, message: expect.stringContaining('Invalid URL (POST /v1/embeddings)') });
    for (const [method, path] of [['GET', '/v1/nothing'], ['POST', '/v1/responses'], ['GET', '/v1/models/a/b'], ['PUT', '/V1/Files/x'], ['GET', '/v1/'], ['POST', '/v1//chat/completions']]) {
      expect({ method, path, ...(await send(s.port, method, path, {})) }).toMatchObject({ method, path, status: 401, body: { error: { code: 'invalid_api_key', type: 'invalid_request_error' } } });
      expect({ method, path, ...(await send(s.port, method, path, auth)) }).toMatchObject({ method, path, ...openAIError(404, { message: expect.stringContaining('Invalid URL') }) });
    }
    // outside the prefix the app answers as it would without the gateway
    expect((await send(s.port, 'GET', '/elsewhere', {})).status).toBe(404);
    expect((await send(s.port, 'GET', '/elsewhere', {})).contentType).not.toBe('application/json');
    expect(fake.stats().requests).toBe(before);
  });

  it('answers a known path asked with another method with 405 and Allow, after the key check', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/chat/completions', 'POST'],
      ['PUT', '/V1/CHAT/COMPLETIONS/', 'POST'],
      ['DELETE', '/v1/models', 'GET, HEAD'],
      ['POST', '/v1/models/', 'GET, HEAD'],
      ['PATCH', '/v1/models/cheap', 'GET, HEAD'],
      ['OPTIONS', '/v1/chat/completions', 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      expect({ method, path, ...(await send(s.port, method, path, {})) }).toMatchObject({ method, path, status: 401 });
      const keyed = await send(s.port, method, path, auth);
      expect({ method, path, ...keyed }).toMatchObject({ method, path, allow, ...openAIError(405, { code: 'method_not_allowed' }) });
    }
  });

  it('GET /models/{id}: OpenAI\'s model object for every id /models lists, URL-encoded or not; 404 for any other', async () => {
    const client = new OpenAI({ baseURL: s.base, apiKey: KEY, maxRetries: 0 });
    const listed = (await client.models.list()).data.map((m) => m.id);
    expect(listed.sort()).toEqual(['cheap', 'default', 'fast', 'org/vision-1', 'smart']);
    for (const id of listed) expect(await client.models.retrieve(id)).toEqual({ id, object: 'model', created: 0, owned_by: 'koa-llm-resilience' });
    expect((await send(s.port, 'GET', '/V1/MODELS/org%2fvision-1/', auth)).body).toMatchObject({ id: 'org/vision-1' });
    expect(await send(s.port, 'GET', '/v1/models/%ZZ', auth)).toMatchObject(openAIError(404, { code: 'model_not_found', param: 'model', message: "The model '%ZZ' does not exist" }));
    expect((await send(s.port, 'GET', '/v1/models/cheap', {})).status).toBe(401);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...listed), fc.string({ minLength: 1, maxLength: 12 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 })), async (id) => {
        fc.pre(id !== '.' && id !== '..'); // a URL's dot segments, which every client resolves away
        const got = await client.models.retrieve(id).catch((e: unknown) => e);
        if (listed.includes(id)) expect(got).toMatchObject({ id, object: 'model' });
        else expect(got).toMatchObject({ status: 404, code: 'model_not_found', error: { message: `The model '${id}' does not exist`, param: 'model' } });
      }),
      { numRuns: 60 },
    );
  });

  it('answers a body that is not JSON, or not an object, with a 400 whatever read it first', async () => {
    const post = (body: string, type: string) => send(s.port, 'POST', '/v1/chat/completions', { ...auth, 'content-type': type }, body);
    const before = fake.stats().requests;
    // @koa/bodyparser throws on these before any router runs: only the errorHandler mounted before it answers them
    const parserThrowsUnseen = v.adapter === 'koa' && v.parser && !v.errorHandler;
    if (!parserThrowsUnseen) {
      expect(await post('{"model":', 'application/json')).toMatchObject(openAIError(400, { message: 'Request body is not valid JSON.' }));
      expect(await post('"a string"', 'application/json')).toMatchObject(openAIError(400));
      // an empty body: not JSON, or (express.json() makes it `{}`) a body without a model
      expect(await post('', 'application/json')).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error' } } });
    }
    expect(await post('[1, 2]', 'application/json')).toMatchObject(openAIError(400, { message: 'Request body must be a JSON object.' }));
    expect(await post('model=default&messages=hello', 'application/x-www-form-urlencoded')).toMatchObject(openAIError(400));
    expect(await post('{"model":', 'text/plain')).toMatchObject(openAIError(400, { message: 'Request body is not valid JSON.' }));
    expect(fake.stats().requests).toBe(before);
    // JSON is judged by its bytes: sent as text, it is served
    expect(await post(JSON.stringify(chat()), 'text/plain')).toMatchObject({ status: 200, body: { object: 'chat.completion', model: 'big' } });
    // sent as a form: served when the bytes are still there; a 400 when a form parser turned them into fields
    const asForm = await post(JSON.stringify(chat()), 'application/x-www-form-urlencoded');
    if (v.adapter === 'express' && v.parser) expect(asForm).toMatchObject(openAIError(400, { message: expect.stringContaining('Content-Type: application/json') }));
    else expect(asForm).toMatchObject({ status: 200, body: { object: 'chat.completion' } });
  });

  it('refuses a body whose Content-Length is over the limit with a 413 before reading it', async () => {
    if (v.adapter === 'koa' && v.parser && !v.errorHandler) return; // @koa/bodyparser's own 413, thrown before any router
    if (v.adapter === 'express' && v.parser) {
      // express.json() applies its own limit (100 kB) and reads the whole body before it gives up: its 413,
      // answered in OpenAI's shape by the errorHandler
      const big = JSON.stringify(chat({ messages: [{ role: 'user', content: 'x'.repeat(200 * 1024) }] }));
      expect(await send(s.port, 'POST', '/v1/chat/completions', { ...auth, 'content-type': 'application/json' }, big)).toMatchObject(openAIError(413, { code: 'request_too_large' }));
      return;
    }
    // the request declares 40 MiB, sends a few bytes and waits: the answer comes without the rest
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/v1/chat/completions', agent: false, headers: { ...auth, 'content-type': 'application/json', 'content-length': String(40 * 1024 * 1024) } });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, allow: undefined, contentType: String(res.headers['content-type']).split(';')[0], body: JSON.parse(text) });
        });
      });
      req.write('{"model":"default",');
    });
    expect(answer).toMatchObject(openAIError(413, { code: 'request_too_large' }));
    // without the key it is a 401 all the same
    expect((await send(s.port, 'POST', '/v1/chat/completions', { 'content-type': 'application/json' }, 'x'.repeat(200 * 1024))).status).toBe(401);
  });

  it('passes a 2 MiB image in a data URL through at the default limit, byte for byte', async () => {
    const image = `data:image/png;base64,${randomBytes(2 * 1024 * 1024).toString('base64')}`;
    const client = new OpenAI({ baseURL: s.base, apiKey: KEY, maxRetries: 0 });
    const ask = client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: image } }] }] });
    if ((v.adapter === 'express' && v.parser) || (v.adapter === 'koa' && v.parser && !v.errorHandler)) {
      // a body parser mounted before the gateway applies its own limit (express.json(): 100 kB, @koa/bodyparser: 1 MB)
      if (v.adapter === 'express') await expect(ask).rejects.toMatchObject({ status: 413, code: 'request_too_large' });
      else await expect(ask).rejects.toMatchObject({ status: 413 });
      return;
    }
    const before = fake.requests('big').length;
    expect(await ask).toMatchObject({ model: 'big', choices: [{ message: { content: 'big answer: what is this' } }] });
    const sent = fake.requests('big')[before].body as { messages: { content: { image_url?: { url: string } }[] }[] };
    expect(sent.messages[0].content[1].image_url?.url).toBe(image);
  });
});

describe('the gateway with a small maxBodyBytes', () => {
  it.each(VARIANTS.filter((v) => !v.parser).map((v) => [v.name, v] as const))('%s: a chunked body stops being read at the limit and is answered 413', async (_n, v) => {
    const s = await start(v, { maxBodyBytes: 4096 });
    try {
      // no Content-Length (chunked), more than the limit written, the request never ended: the 413 comes anyway
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/v1/chat/completions', agent: false, headers: { ...auth, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.write(`{"model":"default","messages":[{"role":"user","content":"${'x'.repeat(6000)}`);
      });
      expect(status).toBe(413);
      // a body under the limit is still served on the same app
      expect((await send(s.port, 'POST', '/v1/chat/completions', { ...auth, 'content-type': 'application/json' }, JSON.stringify(chat()))).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('Koa and Express answer every request under the prefix alike', () => {
  it('any method and path under the prefix, with and without the key', async () => {
    const koa = await start(VARIANTS[0]);
    const viaExpress = await start(VARIANTS[3]);
    const segment = fc.oneof(fc.constantFrom('chat', 'completions', 'models', 'Models', 'CHAT', 'embeddings', 'cheap', 'gpt-9', 'org%2Fvision-1', '%ZZ', ''), fc.stringMatching(/^[a-zA-Z0-9._~-]{1,8}$/));
    const before = fake.stats().requests;
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean(), async (method, segments, keyed) => {
          const path = `/v1/${segments.join('/')}`;
          // a POST to the chat route is a chat request (no body here: a 400), the rest never reaches the provider
          const headers = keyed ? auth : {};
          const a = await send(koa.port, method, path, headers);
          const b = await send(viaExpress.port, method, path, headers);
          expect({ method, path, express: b }).toEqual({ method, path, express: a });
          if (!keyed) expect({ method, path, status: a.status }).toEqual({ method, path, status: 401 });
          else expect({ method, path, known: [200, 400, 404, 405].includes(a.status) }).toEqual({ method, path, known: true });
          if (method !== 'HEAD') expect({ method, path, json: a.contentType }).toEqual({ method, path, json: 'application/json' });
        }),
        { numRuns: 150 },
      );
      expect(fake.stats().requests).toBe(before);
    } finally {
      await koa.close();
      await viaExpress.close();
    }
  });
});

describe('maxBodyBytes', () => {
  it('is checked at start-up, naming the field', () => {
    for (const maxBodyBytes of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 40, '1048576', null]) {
      expect(() => openAICompatibleRouter({ apiKeys: [KEY], maxBodyBytes } as never)).toThrow(ConfigError);
      expect(() => openAICompatibleRouter({ apiKeys: [KEY], maxBodyBytes } as never)).toThrow(/\/maxBodyBytes: must be an integer/);
      expect(() => openAICompatibleExpress({ apiKeys: [KEY], maxBodyBytes } as never)).toThrow(/\/maxBodyBytes: must be an integer/);
    }
    for (const maxBodyBytes of [1, 4096, 32 * 1024 * 1024, 256 * 1024 * 1024, undefined]) {
      expect(() => openAICompatibleRouter({ apiKeys: [KEY], maxBodyBytes })).not.toThrow();
      expect(() => openAICompatibleExpress({ apiKeys: [KEY], maxBodyBytes })).not.toThrow();
    }
  });
});

describe('a gateway with an empty prefix', () => {
  it.each([
    ['Koa', VARIANTS[0]],
    ['Express', VARIANTS[3]],
  ] as const)('%s: its own paths answer 405 to another method, after the key check; the app keeps every other path', async (_n, v) => {
    const s = await start(v, { prefix: '' });
    try {
      expect(await send(s.port, 'DELETE', '/models', auth)).toMatchObject({ allow: 'GET, HEAD', ...openAIError(405, { code: 'method_not_allowed' }) });
      expect(await send(s.port, 'GET', '/Chat/Completions/', auth)).toMatchObject({ allow: 'POST', ...openAIError(405, { code: 'method_not_allowed' }) });
      expect((await send(s.port, 'DELETE', '/models', {})).status).toBe(401);
      expect(await send(s.port, 'GET', '/models/cheap', auth)).toMatchObject({ status: 200, body: { id: 'cheap', object: 'model' } });
      const elsewhere = await send(s.port, 'POST', '/embeddings', {});
      expect(elsewhere.status).toBe(404);
      expect(elsewhere.contentType).not.toBe('application/json');
    } finally {
      await s.close();
    }
  });
});

describe("the Koa router's errorHandler and a body parser that reads regardless", () => {
  it('answers what the parser throws on the gateway\'s paths in OpenAI\'s shape, after the key check, and leaves other paths to the app', async () => {
    const llm = llmResilience({ models: MODELS.map((m) => ({ ...m, baseURL: fake.url })), cache: false });
    const router = openAICompatibleRouter({ apiKeys: [KEY] });
    const app = new Koa();
    app.silent = true;
    app.use(router.errorHandler);
    // a parser that does not honour ctx.disableBodyParser (here @koa/bodyparser with the flag taken away)
    app.use((ctx, next) => {
      delete (ctx as { disableBodyParser?: boolean }).disableBodyParser;
      return next();
    });
    app.use(bodyParser({ jsonLimit: '1kb' }));
    app.use(llm).use(router.routes());
    const server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const json = { 'content-type': 'application/json' };
    try {
      expect(await send(port, 'POST', '/v1/chat/completions', { ...auth, ...json }, '{"model":')).toMatchObject(openAIError(400, { message: 'Request body is not valid JSON.' }));
      expect(await send(port, 'POST', '/v1/chat/completions', { ...auth, ...json }, JSON.stringify(chat({ pad: 'x'.repeat(2000) })))).toMatchObject(openAIError(413, { code: 'request_too_large' }));
      expect(await send(port, 'POST', '/v1/chat/completions', json, '{"model":')).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
      // a body it parsed is answered as usual
      expect(await send(port, 'POST', '/v1/chat/completions', { ...auth, ...json }, JSON.stringify(chat()))).toMatchObject({ status: 200, body: { object: 'chat.completion' } });
      // elsewhere, the parser's error is the app's, untouched
      const elsewhere = await send(port, 'POST', '/api/things', json, '{"model":');
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.contentType).not.toBe('application/json');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await llm.close();
    }
  });
});
