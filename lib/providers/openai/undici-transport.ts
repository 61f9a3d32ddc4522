import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import zlib from 'node:zlib';
import type { Pool } from 'undici';

/**
 * The `fetch` the openai SDK is given when the app passes none: undici's `request()` on an `Agent` of the
 * engine's own, answering with the part of a `Response` the SDK reads (`status`, `ok`, `headers`, `url`, `body`
 * as an async iterable, `text()`, `json()`).
 *
 * Why: Node 20's `fetch` is undici too, but its spec steps (a `Request`, header lists, a fetch controller, a web
 * `ReadableStream` per body, a `Response`) cost more CPU than the rest of a call. On loopback at 50 calls in flight
 * the SDK spent about 540 µs of CPU per call on the global `fetch` and about 160 µs on this (bench/README.md, "2026-11-25: the SDK's transport").
 * The HTTP the provider sees is the same (method, URL, headers, body, keep-alive), and cancelling works the same
 * way: the SDK's signal aborts the request and undici closes its connection.
 *
 * What it does not do, and the global `fetch` does: follow redirects (an API answering 3xx is an error here, as it
 * is to the SDK), and use `setGlobalDispatcher()` (a proxy agent): pass `fetch` (for example `globalThis.fetch`)
 * to use those. Anything unusual it is handed (a `Request` object, a streamed body) goes to the global `fetch`.
 */
export interface UpstreamTransport {
  readonly fetch: typeof globalThis.fetch;
  /**
   * Closes the agent's connections: idle ones at once; calls in flight may finish (or end by their own timeout)
   * for up to `closeGraceMs`, then whatever is still open is cut (a stream nobody reads any more, say).
   */
  close(): Promise<void>;
}

/** undici, loaded when the first transport is made (about 40 ms that `require('koa-llm-resilience')` need not pay). */
function undici(): typeof import('undici') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('undici') as typeof import('undici');
}

/** `closeGraceMs`: how long `close()` lets calls in flight finish (default 2 000 ms, the default attempt timeout). */
export function undiciTransport(closeGraceMs = 2_000): UpstreamTransport {
  const { Agent, Pool, request } = undici();
  // The pools are kept here too: the agent forgets them when it starts closing, and they may still have to be cut.
  const pools = new Set<Pool>();
  const agent = new Agent({
    keepAliveTimeout: 4_000,
    factory: (origin, opts) => {
      const pool = new Pool(origin, opts);
      pools.add(pool);
      return pool;
    },
  });
  let closed = false;
  const transportFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = init?.body;
    const requestObject = typeof input === 'object' && !(input instanceof URL);
    const streamedBody = body != null && typeof body !== 'string' && !(body instanceof Uint8Array);
    if (closed || requestObject || streamedBody) return globalThis.fetch(input, init);
    const url = typeof input === 'string' ? input : input.href;
    const res = await request(url, {
      method: (init?.method ?? 'GET') as 'GET',
      headers: headerRecord(init?.headers),
      body: body ?? undefined,
      signal: init?.signal ?? undefined,
      dispatcher: agent,
    });
    // A body's error with no listener would be an uncaught exception (a web stream's is not): whoever reads the
    // body (the SDK, `text()`) still gets it, and a body nobody reads any more cannot crash the process.
    res.body.on('error', ignore);
    return new UpstreamResponse(url, res.statusCode, res.headers, decoded(res.body, res.headers['content-encoding'])) as unknown as Response;
  };
  return {
    fetch: transportFetch as typeof globalThis.fetch,
    close: async () => {
      if (closed) return;
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<boolean>((resolve) => {
        timer = setTimeout(resolve, closeGraceMs, true);
      });
      const drained = agent.close().then(
        () => false,
        () => false,
      );
      const cut = await Promise.race([drained, graceOver]);
      clearTimeout(timer);
      if (cut) await Promise.all([...pools].map((p) => p.destroy().catch(() => undefined)));
    },
  };
}

type RawHeaders = Record<string, string | string[] | undefined>;

const ignore = (): void => undefined;

function headerRecord(h: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (typeof (h as Headers).forEach === 'function' && !Array.isArray(h)) {
    (h as Headers).forEach((value, name) => {
      out[name] = value;
    });
  } else if (Array.isArray(h)) {
    for (const [name, value] of h as [string, string][]) out[name.toLowerCase()] = value;
  } else {
    for (const [name, value] of Object.entries(h as Record<string, string>)) out[name.toLowerCase()] = value;
  }
  return out;
}

/** A body the server compressed anyway (the request asks for none) is decompressed, as `fetch` would. */
function decoded(body: Readable, encoding: string | string[] | undefined): Readable {
  const enc = (Array.isArray(encoding) ? encoding.join(',') : encoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  const decoder = enc === 'gzip' || enc === 'x-gzip' ? zlib.createGunzip() : enc === 'deflate' ? zlib.createInflate() : enc === 'br' ? zlib.createBrotliDecompress() : null;
  if (!decoder) return body;
  return pipeline(body, decoder, () => undefined);
}

/** What the openai SDK reads of a `Response`. */
class UpstreamResponse {
  readonly headers: Headers;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  #used = false;

  constructor(
    readonly url: string,
    readonly status: number,
    raw: RawHeaders,
    readonly body: Readable,
  ) {
    const headers = new Headers();
    for (const name in raw) {
      const v = raw[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) headers.append(name, x);
      else headers.append(name, v);
    }
    this.headers = headers;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  async text(): Promise<string> {
    return (await this.#bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.#bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  #bytes(): Promise<Buffer> {
    if (this.#used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    this.#used = true;
    const body = this.body;
    // already failed before anyone read it (cut, aborted): its 'error' has been and gone
    if (body.errored) return Promise.reject(cutWhileReading(body.errored));
    if (body.destroyed) return Promise.reject(cutWhileReading(new Error('the body was closed before it was read')));
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: Buffer) => chunks.push(c));
      body.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      body.once('error', (err) => reject(cutWhileReading(err)));
    });
  }
}

/**
 * A body cut short fails as `fetch` fails it, `TypeError('terminated')` with the cause, so what reads the error
 * (the SDK, `classifyError`) sees one shape whichever transport ran. An abort stays an abort.
 */
function cutWhileReading(err: unknown): unknown {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'AbortError') return err;
  return new TypeError('terminated', { cause: err });
}
