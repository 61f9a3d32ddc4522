/**
 * The OpenAI-compatible gateway under hostile requests over real HTTP: malformed percent-encoding in paths and in
 * `models/{id}` never turns into a 500, and without the key no spelling tells which paths exist.
 */
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { llmExpress, llmResilience, openAICompatibleExpress, openAICompatibleRouter } from '../../../lib';
import type { LlmResilienceOptions } from '../../../lib/koa/types';
import { startFakeLlm, type FakeLlm } from '../../../lib/testing';

const KEY = 'gateway-key-0123456789';
let fake: FakeLlm;
const servers: http.Server[] = [];

beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await fake.close();
});

const models = (): LlmResilienceOptions['models'] => [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 }];

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function koaApp(): Promise<number> {
  const app = new Koa();
  app.silent = true;
  app.use(llmResilience({ models: models() }));
  const gw = openAICompatibleRouter({ apiKeys: [KEY] });
  app.use(gw.routes());
  return listen(app.callback());
}

function expressApp(): Promise<number> {
  const app = express();
  app.use(llmExpress({ models: models() }));
  app.use(openAICompatibleExpress({ apiKeys: [KEY] }));
  return listen(app);
}

function raw(port: number, method: string, path: string, key: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: key ? { authorization: `Bearer ${KEY}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const BAD = ['/v1/models/%FF', '/v1/models/%E0%A4%A', '/v1/models/a%', '/v1/models/%C0%AF', '/v1/nope/%FF', '/v1/%FF', '/v1/models/%2e%2e', '/v1/models/..%2F..%2Fetc', `/v1/models/${'x'.repeat(6000)}`, `/v1/models/${'%41'.repeat(2000)}`];

describe.each([
  ['Koa', koaApp],
  ['Express', expressApp],
])('%s gateway, malformed paths', (_name, start) => {
  let port: number;
  beforeAll(async () => {
    port = await start();
  });

  it.each(BAD.map((p) => [p.slice(0, 40), p]))('%s without a key is a 401, with a key a 4xx in OpenAI shape, never a 500', async (_shown, path) => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const anon = await raw(port, method, path, false);
      expect([anon.status, method, path]).toEqual([401, method, path]);
      const keyed = await raw(port, method, path, true);
      expect(keyed.status).toBeGreaterThanOrEqual(400);
      expect(keyed.status).toBeLessThan(500);
      expect(JSON.parse(keyed.body)).toHaveProperty('error');
      // a client-sent path or id is echoed at most in part: an answer never grows with the request line
      expect(keyed.body.length).toBeLessThan(1500);
    }
  });
});

/** An SSE body's `data:` payloads, `[DONE]` aside, parsed. */
function frames(body: string): unknown[] {
  return body
    .split('\n\n')
    .map((f) => f.trim())
    .filter((f) => f.startsWith('data: ') && f !== 'data: [DONE]')
    .map((f) => JSON.parse(f.slice(6)) as unknown);
}

function post(port: number, body: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } }, (res) => {
      let out = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (out += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: out }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

describe.each([
  ['Koa', koaApp],
  ['Express', expressApp],
])('%s gateway, every method', (_name, start) => {
  let port: number;
  beforeAll(async () => {
    port = await start();
  });

  it.each(['HEAD', 'OPTIONS', 'PATCH', 'PUT', 'TRACE'])('%s on known and unknown paths is a 401 without the key, never a 5xx with it', async (method) => {
    for (const path of ['/v1/models', '/v1/models/smart', '/v1/chat/completions', '/v1/nope', '/V1/Models/', '/v1//models']) {
      const anon = await raw(port, method, path, false);
      expect([method, path, anon.status]).toEqual([method, path, 401]);
      const keyed = await raw(port, method, path, true);
      expect(keyed.status).toBeLessThan(500);
    }
  });
});

describe.each([
  ['Koa', 'koa'],
  ['Express', 'express'],
])('%s gateway, a provider reporting a hostile model name', (_name, adapter) => {
  const names = ['big\r\nX-Injected: 1', `big-${'m'.repeat(190)}`, 'big"},"x":{"'];
  it.each(names.map((n) => [n.slice(0, 20), n]))('%s: chunks stay valid JSON, headers carry no injected line', async (_shown, providerModel) => {
    const ms: LlmResilienceOptions['models'] = [{ name: 'smart', model: providerModel, baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 }];
    let port: number;
    if (adapter === 'koa') {
      const app = new Koa();
      app.silent = true;
      app.use(llmResilience({ models: ms, exposeHeaders: true }));
      app.use(openAICompatibleRouter({ apiKeys: [KEY] }).routes());
      port = await listen(app.callback());
    } else {
      const app = express();
      app.use(llmExpress({ models: ms, exposeHeaders: true }));
      app.use(openAICompatibleExpress({ apiKeys: [KEY] }));
      port = await listen(app);
    }
    for (const stream of [true, false]) {
      const r = await post(port, { model: 'smart', stream, messages: [{ role: 'user', content: 'hi' }] });
      expect(r.status).toBe(200);
      expect(r.headers['x-injected']).toBeUndefined();
      for (const v of Object.values(r.headers)) expect(String(v)).not.toMatch(/[\r\n]/);
      const parsed = stream ? frames(r.body) : [JSON.parse(r.body) as unknown];
      expect(parsed.length).toBeGreaterThan(0);
      for (const p of parsed) expect(p).not.toHaveProperty('error');
    }
  });
});

/** A request written by hand on a socket: `head` lines, then `body` as given (so lengths and framing may lie). */
function rawSocket(port: number, head: string[], body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      socket.write(body);
    });
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      out += c;
      if (/\r\n\r\n[\s\S]*\}\s*$/.test(out)) socket.destroy();
    });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

describe.each([
  ['Koa', 'koa'],
  ['Express', 'express'],
])('%s gateway, bodies that lie about themselves', (_name, adapter) => {
  let port: number;
  beforeAll(async () => {
    if (adapter === 'koa') {
      const app = new Koa();
      app.silent = true;
      app.use(llmResilience({ models: models() }));
      app.use(openAICompatibleRouter({ apiKeys: [KEY], maxBodyBytes: 1024 }).routes());
      port = await listen(app.callback());
    } else {
      const app = express();
      app.use(llmExpress({ models: models() }));
      app.use(openAICompatibleExpress({ apiKeys: [KEY], maxBodyBytes: 1024 }));
      port = await listen(app);
    }
  });
  const head = (extra: string[]): string[] => ['POST /v1/chat/completions HTTP/1.1', 'Host: x', `Authorization: Bearer ${KEY}`, 'Content-Type: application/json', 'Connection: close', ...extra];
  const status = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

  it('a chunked body over maxBodyBytes is a 413 and never reaches the provider', async () => {
    const before = fake.requests().total;
    const big = Buffer.from(JSON.stringify({ model: 'smart', messages: [{ role: 'user', content: 'x'.repeat(4000) }] }));
    const chunks = Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]);
    const answer = await rawSocket(port, head(['Transfer-Encoding: chunked']), chunks);
    expect(status(answer)).toBe(413);
    expect(fake.requests().total).toBe(before);
  });

  it('a gzip body is a 4xx, never a 500, and never reaches the provider', async () => {
    const before = fake.requests().total;
    const gz = zlib.gzipSync(JSON.stringify({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }));
    const answer = await rawSocket(port, head(['Content-Encoding: gzip', `Content-Length: ${gz.length}`]), gz);
    expect(status(answer)).toBeGreaterThanOrEqual(400);
    expect(status(answer)).toBeLessThan(500);
    expect(fake.requests().total).toBe(before);
  });

  it('a Content-Length smaller than the body sent is judged by the bytes it declares (a 400, not JSON)', async () => {
    const before = fake.requests().total;
    const text = Buffer.from(JSON.stringify({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }));
    const answer = await rawSocket(port, head([`Content-Length: ${text.length - 5}`]), text);
    expect(status(answer)).toBe(400);
    expect(fake.requests().total).toBe(before);
  });
});

describe.each([
  ['Koa', 'koa'],
  ['Express', 'express'],
])('%s gateway, a stream flight the provider breaks mid-stream', (_name, adapter) => {
  it('every client in the flight gets an in-stream error without [DONE], and nothing is cached', async () => {
    const ms: LlmResilienceOptions['models'] = [{ name: 'smart', model: `brk-${adapter}`, baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 }];
    fake.setBehavior(`brk-${adapter}`, { text: 'one two three four five six seven eight', chunkDelayMs: 30, mode: 'cut', failAfterChunks: 3 });
    let port: number;
    if (adapter === 'koa') {
      const app = new Koa();
      app.silent = true;
      app.use(llmResilience({ models: ms, cache: {} }));
      app.use(openAICompatibleRouter({ apiKeys: [KEY] }).routes());
      port = await listen(app.callback());
    } else {
      const app = express();
      app.use(llmExpress({ models: ms, cache: {} }));
      app.use(openAICompatibleExpress({ apiKeys: [KEY] }));
      port = await listen(app);
    }
    const body = { model: 'smart', stream: true, temperature: 0, messages: [{ role: 'user', content: `break ${adapter}` }] };
    const answers = await Promise.all([post(port, body), post(port, body), post(port, body)]);
    expect(fake.stats(`brk-${adapter}`).requests).toBe(1);
    for (const a of answers) {
      expect(a.body).not.toContain('[DONE]');
      expect(frames(a.body).some((f) => typeof f === 'object' && f !== null && 'error' in f)).toBe(true);
    }
    fake.setBehavior(`brk-${adapter}`, { text: 'whole', chunkDelayMs: 5 });
    const again = await post(port, body);
    expect(again.body).toContain('[DONE]');
    expect(fake.stats(`brk-${adapter}`).requests).toBe(2);
  });
});
