import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { createEngine, type LlmEngine, type LlmResilienceOptions } from '../../../lib';
import { undiciTransport } from '../../../lib/providers/openai/undici-transport';
import { classifyError } from '../../../lib/core/upstream/classify-error';
import { startFakeLlm } from '../../../lib/testing';

/** A raw HTTP server whose answer each test writes by hand, counting requests and open connections. */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; requests: http.IncomingMessage[]; sockets: Set<Socket>; close(): Promise<void> }> {
  const requests: http.IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const completion = (text: string) =>
  JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });

/** An engine on the library's default transport with one model per name, closed (with the server) after `fn`. */
async function withEngine(srv: Awaited<ReturnType<typeof rawServer>>, names: string[], fn: (engine: LlmEngine) => Promise<void>, extra: Partial<LlmResilienceOptions> = {}): Promise<void> {
  const engine = createEngine({ models: names.map((n) => ({ name: n, model: n, baseURL: srv.url, apiKey: 'k' })), cache: false, ...extra });
  try {
    await fn(engine);
  } finally {
    await engine.close();
    await srv.close();
  }
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('undiciTransport (the default fetch the SDK is given)', () => {
  it('sends what the SDK asks (method, path, headers, body) and hands back status, headers and JSON', async () => {
    const srv = await rawServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-request-id', 'req_1');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(completion(`echo ${JSON.parse(body).messages[0].content}`));
      });
    });
    const t = undiciTransport();
    try {
      const client = new OpenAI({ baseURL: srv.url, apiKey: 'sk-transport', maxRetries: 0, fetch: t.fetch });
      const { data, response } = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      expect(data.choices[0].message.content).toBe('echo hi');
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('req_1');
      expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
      const req = srv.requests[0];
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/v1/chat/completions');
      expect(req.headers.authorization).toBe('Bearer sk-transport');
      expect(req.headers['content-type']).toBe('application/json');
    } finally {
      await t.close();
      await srv.close();
    }
  });

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('a body the server compressed anyway (%s) is decompressed, as fetch would', async (encoding, compress) => {
    const srv = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
      res.end(compress(Buffer.from(completion('squeezed'))));
    });
    await withEngine(srv, ['m'], async (engine) => {
      await expect(engine.complete({ prompt: 'x' })).resolves.toMatchObject({ text: 'squeezed', model: 'm' });
      expect(srv.requests).toHaveLength(1);
    });
  });

  it('a body cut short is a failed attempt that says so, and the next model answers', async () => {
    const srv = await rawServer((req, res) => {
      if (req.url?.includes('chat') && srv.requests.length === 1) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
        res.write('{"id":"c1","choices":[');
        setTimeout(() => res.destroy(), 10);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(completion('second'));
    });
    await withEngine(srv, ['a', 'b'], async (engine) => {
      const r = await engine.complete({ prompt: 'x' });
      expect(r).toMatchObject({ model: 'b', fallback: true });
      expect(r.attempts[0]).toMatchObject({ model: 'a', outcome: 'error', message: 'connection closed before the answer was complete' });
      expect(srv.requests).toHaveLength(2);
    }, { retry: false }); // the fallback alone: no same-model retry of the cut answer
  });

  it('does not follow redirects: a 3xx is the model failing, and nothing is sent to the other address', async () => {
    const srv = await rawServer((req, res) => {
      if (req.url?.startsWith('/elsewhere')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completion('moved'));
        return;
      }
      res.writeHead(307, { location: '/elsewhere/chat/completions' });
      res.end();
    });
    await withEngine(srv, ['m'], async (engine) => {
      const err = await engine.complete({ prompt: 'x' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ALL_MODELS_FAILED', attempts: [{ model: 'm', outcome: 'error', status: 307 }] });
      expect(srv.requests.map((r) => r.url)).toEqual(['/v1/chat/completions']);
    });
  });

  it('close() closes its kept-alive connections', async () => {
    const srv = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(completion('hi'));
    });
    const engine = createEngine({ models: [{ name: 'm', model: 'm', baseURL: srv.url, apiKey: 'k' }], cache: false });
    try {
      await engine.complete({ prompt: 'x' });
      expect(srv.sockets.size).toBe(1); // kept alive for the next call
      await engine.close();
      await waitFor(() => srv.sockets.size === 0);
    } finally {
      await srv.close();
    }
  });

  it('close() lets a call in flight end by its timeout, but cuts a stream nobody reads any more instead of waiting for it', async () => {
    const fake = await startFakeLlm({ behaviors: { big: { chunkDelayMs: 20, text: 'word '.repeat(2000) } } });
    // close() waits up to the longest `timeoutMs` (100 ms); the first token may take longer on a loaded machine
    const engine = createEngine({ models: [{ name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 100, firstTokenTimeoutMs: 5000 }], cache: false });
    try {
      const it = engine.stream({ prompt: 'x' })[Symbol.asyncIterator]();
      await expect(it.next()).resolves.toMatchObject({ done: false }); // committed, then left alone (40 s of stream left)
      await engine.close();
      await waitFor(() => fake.stats('big').aborted === 1);
      expect(fake.stats('big')).toMatchObject({ completed: 0, aborted: 1 });
    } finally {
      await fake.close();
    }
  });

  it('a body nobody reads whose connection is then cut does not crash the process (a web stream would not either)', async () => {
    const srv = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":');
      setTimeout(() => res.destroy(), 20);
    });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const t = undiciTransport();
    try {
      const res = await t.fetch(`${srv.url}/chat/completions`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(200);
      await waitFor(() => srv.sockets.size === 0); // cut, and nobody read the body
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      await expect(res.text()).rejects.toThrow();
    } finally {
      process.off('uncaughtException', onUncaught);
      await t.close();
      await srv.close();
    }
  });

  it('talks HTTPS, as every real provider does: a certificate it cannot verify is refused, one the process trusts answers', async () => {
    // a throwaway self-signed certificate for 127.0.0.1 (no key is kept in the repository)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-tls-'));
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    let served = 0;
    const server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(cert) }, (req, res) => {
      served++;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completion('over tls'));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const engine = createEngine({ models: [{ name: 'm', model: 'm', baseURL: url, apiKey: 'k' }], cache: false });
    try {
      await expect(engine.complete({ prompt: 'x' })).rejects.toMatchObject({ code: 'ALL_MODELS_FAILED', attempts: [{ model: 'm', outcome: 'error', message: 'connection error' }] });
      expect(served).toBe(0);
      // The same call from a process that trusts the certificate (NODE_EXTRA_CA_CERTS is read when Node starts).
      // (the child ends on its own once its engine is closed)
      const script = `const engine = require(${JSON.stringify(path.resolve(__dirname, '../../../lib'))}).createEngine({ models: [{ name: 'm', model: 'm', baseURL: ${JSON.stringify(url)}, apiKey: 'k' }], cache: false });
        engine.complete({ prompt: 'x' }).then((r) => ({ text: r.text }), (e) => ({ error: String(e) })).then((out) => { console.log(JSON.stringify(out)); return engine.close(); });`;
      const { stdout } = await promisify(execFile)(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, timeout: 30_000 });
      expect(JSON.parse(stdout.trim().split('\n').pop() ?? '')).toEqual({ text: 'over tls' });
      expect(served).toBe(1);
    } finally {
      await engine.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('what it does not handle itself (a Request object) goes to the global fetch', async () => {
    const srv = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain');
    });
    const t = undiciTransport();
    try {
      const res = await t.fetch(new Request(`${srv.url}/x`));
      expect(res).toBeInstanceOf(Response);
      expect(await res.text()).toBe('plain');
      const own = await t.fetch(`${srv.url}/y`);
      expect(own).not.toBeInstanceOf(Response);
      expect(await own.text()).toBe('plain');
      await expect(own.text()).rejects.toThrow(/already been read/);
      expect(srv.requests.map((r) => r.url)).toEqual(['/v1/x', '/v1/y']);
    } finally {
      await t.close();
      await srv.close();
    }
  });

  it("undici's own socket errors (a stream the SDK reads from the body) classify as a cut connection", () => {
    for (const code of ['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']) {
      const err = Object.assign(new Error('other side closed'), { name: 'SocketError', code });
      expect(classifyError(err, { timedOut: false, callerAborted: false, timeoutMs: 100 })).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'connection closed before the answer was complete' });
    }
  });
});
