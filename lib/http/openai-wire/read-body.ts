import type { IncomingMessage } from 'node:http';

/** A problem with a request body, as the gateway answers it (400 or 413). */
export interface BodyProblem {
  status: 400 | 413;
  problem: string;
}

export type ReadBody = { body: Record<string, unknown> } | BodyProblem;

/** What a body parser mounted before the gateway may have left on the request. */
export interface ParsedBody {
  /** Koa's `ctx.request.body`, Express's `req.body`. */
  parsed: unknown;
  /** The text it read, when it keeps it: koa-bodyparser's and @koa/bodyparser's `ctx.request.rawBody`. */
  raw?: unknown;
}

const TOO_LARGE: BodyProblem = { status: 413, problem: 'Request body too large.' };
const NOT_JSON: BodyProblem = { status: 400, problem: 'Request body is not valid JSON.' };
const READ_AS_OTHER: BodyProblem = { status: 400, problem: 'Request body is not JSON: it was read as another content type (send Content-Type: application/json).' };

/** `application/json`, `application/*+json` (parameters such as `charset` aside). */
function isJsonType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[^/\s]+\+json$/.test(type);
}

/**
 * The request's JSON object, judged by the bytes the client sent whatever read them:
 * - nobody has read the body yet (no body parser, or one that skipped it for its content type and perhaps left
 *   an empty placeholder): it is read here, never more than `limit` bytes into memory (a `Content-Length` over
 *   the limit is refused before reading; the rest of a body found too large is discarded, not kept);
 * - a body parser read it and kept its text (`raw`, or a string/`Buffer` body as `express.text()`/`express.raw()`
 *   leave): that text is parsed here, so a JSON body a parser took for a form is still JSON, and a body that is
 *   not JSON is a 400 whatever the parser made of it;
 * - a body parser read it without keeping the text: its value is used when the request said it is JSON, and is
 *   otherwise a 400 (it was parsed as something else, and the bytes are gone).
 * A body over `limit` is a 413 in every case; one that is JSON but not an object is a 400 of its own.
 */
export async function readJsonObject(source: ParsedBody, req: IncomingMessage, limit: number): Promise<ReadBody> {
  let text: string | Buffer | undefined;
  let value: unknown;
  if (!req.readableEnded) {
    const read = await readLimited(req, limit);
    if ('status' in read) return read;
    text = read.bytes;
  } else if (typeof source.raw === 'string') {
    text = source.raw;
  } else if (typeof source.parsed === 'string' || Buffer.isBuffer(source.parsed)) {
    text = source.parsed;
  } else if (source.parsed !== undefined && source.parsed !== null && isJsonType(req.headers['content-type'])) {
    value = source.parsed;
  } else if (source.parsed !== undefined && source.parsed !== null) {
    return READ_AS_OTHER;
  } else {
    return NOT_JSON;
  }
  if (text !== undefined) {
    if ((typeof text === 'string' ? Buffer.byteLength(text) : text.length) > limit) return TOO_LARGE;
    try {
      value = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
    } catch {
      return NOT_JSON;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { status: 400, problem: 'Request body must be a JSON object.' };
  return { body: value as Record<string, unknown> };
}

/** The body's bytes, or a 413 as soon as it would pass `limit` (what follows is discarded, so the answer can be sent). */
function readLimited(req: IncomingMessage, limit: number): Promise<{ bytes: Buffer } | BodyProblem> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume(); // the bytes are read off the wire and dropped, never kept
    return Promise.resolve(TOO_LARGE);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        done();
        chunks.length = 0;
        req.resume();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      done();
      resolve({ bytes: Buffer.concat(chunks, size) });
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    // a client that leaves before sending the whole body: the request closes without an end (or errors)
    const onClose = (): void => {
      done();
      reject(Object.assign(new Error('The client closed the connection before sending the whole body'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * An error a body parser mounted before the gateway threw (koa-bodyparser, @koa/bodyparser and co-body,
 * express.json() and body-parser, raw-body: each marks its errors with a `type` such as `entity.parse.failed`
 * or `entity.too.large`, or is a `SyntaxError` with a 400 status), as the gateway answers it; null for any
 * other error. The parser's own message is not passed on (it may quote the body).
 */
export function bodyParserProblem(err: unknown): BodyProblem | null {
  if (!err || typeof err !== 'object') return null;
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown; name?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  const type = typeof e.type === 'string' ? e.type : '';
  if (type === 'entity.too.large' || (status === 413 && (type !== '' || e.name === 'PayloadTooLargeError'))) return TOO_LARGE;
  const fromParser = /^(entity|encoding|charset|request)\./.test(type) || (e.name === 'SyntaxError' && status === 400);
  if (!fromParser || typeof status !== 'number' || status < 400 || status >= 500) return null;
  return NOT_JSON;
}
