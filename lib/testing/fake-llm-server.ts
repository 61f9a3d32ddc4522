import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_TIMER_MS, timerDelay } from '../core/timer-delay';
import { fakeAnthropicApi } from './fake-anthropic-api';
import type { FakeDialect, FakeDialectContext, FakeExchange } from './fake-dialect';
import { fakeGeminiApi } from './fake-gemini-api';
import { assistantChoice, chatCompletion, completionChunk, dataFrame, DONE_FRAME, usageChunk, type WireUsage } from '../http/openai-wire/chat-completion';

/** What the fake model does with a request. */
export type FakeMode =
  | 'ok'
  | 'error'
  | 'hang'
  | 'reset'
  | 'rate_limit'
  | 'malformed'
  | 'truncated'
  | 'empty'
  | 'context_length'
  /** Streams only: after `failAfterChunks` content chunks, stop sending and keep the connection open. */
  | 'stall'
  /** Streams only: after `failAfterChunks` content chunks, destroy the connection. */
  | 'cut'
  /** Streams only: send every content chunk, then end without a finish reason or `[DONE]`. */
  | 'no_done'
  /**
   * Streams only: after `failAfterChunks` content chunks, an error sent inside the 200 stream, as providers do when
   * they fail mid-answer (OpenAI: a `data: {"error": …}` frame; Anthropic: an `overloaded_error` event). A
   * request that is not streamed gets that error as its status (`status`, default 500).
   */
  | 'stream_error'
  /** The answer is withheld for safety: OpenAI's `finish_reason: 'content_filter'` with no text (Gemini: a safety block). */
  | 'blocked';

/** Behaviour of one fake model. Every field is optional. */
export interface FakeBehavior {
  /** Delay before answering (or failing). Default: 0. */
  latencyMs?: number;
  /** Uniform random extra delay in [0, jitterMs). Default: 0. */
  jitterMs?: number;
  /**
   * Probability in [0, 1] that a request gets `mode`; the others are answered normally. Default: 1 when
   * `mode` is a failure. With `mode: 'ok'` (or no mode) and a `failRate`, failures are HTTP 500s.
   */
  failRate?: number;
  /**
   * `mode` applies to the next `times` requests of this model only (counted from `setBehavior`); later ones are
   * answered normally: a 500 then a 200, a 429 then an answer. Default: every request.
   */
  times?: number;
  /** Default: `'ok'`. */
  mode?: FakeMode;
  /** HTTP status for `mode: 'error'`. Default: 500. */
  status?: number;
  /** `retry-after` header (seconds) sent with 429s. Default: none. */
  retryAfterS?: number;
  /** Answer text. Default: `"<model> answer: <start of the last user message>"`. */
  text?: string;
  /** Extra response headers (e.g. `retry-after-ms`, `x-ratelimit-reset-requests`). */
  headers?: Record<string, string>;
  /** Leave `usage` out of answers (as some providers do). Default: false. */
  omitUsage?: boolean;
  /** Streams: delay between content chunks. Default: 5. */
  chunkDelayMs?: number;
  /** Streams: content chunks sent before `stall` / `cut` strike. Default: 2. */
  failAfterChunks?: number;
  /**
   * What the model does with a request whose last message is the assistant's (a prefill, the beginning of the
   * answer). `'ignore'` (the default, as OpenAI's own API does): it answers anew, from the start of its text.
   * `'continue'` (as vLLM-style and Anthropic-style endpoints do): it takes the prefill as the beginning of its
   * answer and sends only what follows it: the rest of its text when its text starts with the prefill, else all of it.
   */
  prefill?: 'ignore' | 'continue';
  /**
   * Answer with these tool calls (finish reason `tool_calls`; the text is `text` when given, else none). `arguments`
   * as an object is sent as its JSON; as a string it is sent as it is (so a test can send arguments that are not
   * JSON). `id` defaults to `call_<n>`. Streams send each call's arguments in two pieces, as OpenAI's API does.
   */
  toolCalls?: FakeToolCall[];
  /** Answer with this refusal (`message.refusal`; no text, finish reason `stop`), as OpenAI's API does. */
  refusal?: string;
}

/** A tool call the fake answers with (see `FakeBehavior.toolCalls`). */
export interface FakeToolCall {
  name: string;
  arguments: string | Record<string, unknown>;
  id?: string;
}

const MODES: readonly FakeMode[] = ['ok', 'error', 'hang', 'reset', 'rate_limit', 'malformed', 'truncated', 'empty', 'context_length', 'stall', 'cut', 'no_done', 'stream_error', 'blocked'];
const BEHAVIOR_KEYS = new Set(['latencyMs', 'jitterMs', 'failRate', 'times', 'mode', 'status', 'retryAfterS', 'text', 'headers', 'omitUsage', 'chunkDelayMs', 'failAfterChunks', 'prefill', 'toolCalls', 'refusal']);

/**
 * Refuses a behaviour the fake would not carry out as written, naming every problem: a misspelt mode
 * (`'rate-limit'`, `'timeout'`) or option would otherwise answer normally, and a test would pass for the wrong reason.
 */
function checkBehavior(model: string, b: unknown): FakeBehavior {
  const problems: string[] = [];
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new TypeError(`fake behaviour of "${model}" must be an object`);
  const v = b as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!BEHAVIOR_KEYS.has(k)) problems.push(`unknown option "${k}"`);
  if (v.mode !== undefined && !MODES.includes(v.mode as FakeMode)) problems.push(`mode must be one of ${MODES.join(', ')} (got ${JSON.stringify(v.mode)})`);
  if (v.times !== undefined && !(Number.isInteger(v.times) && (v.times as number) >= 0)) problems.push('times must be an integer ≥ 0');
  for (const k of ['latencyMs', 'jitterMs', 'retryAfterS', 'chunkDelayMs', 'failAfterChunks']) {
    if (v[k] !== undefined && !(typeof v[k] === 'number' && Number.isFinite(v[k]) && (v[k] as number) >= 0)) problems.push(`${k} must be a number ≥ 0`);
  }
  // a longer delay would fire after 1 ms (Node's timer limit): the fake would answer at once instead of late
  for (const k of ['latencyMs', 'jitterMs', 'chunkDelayMs']) {
    if (typeof v[k] === 'number' && (v[k] as number) > MAX_TIMER_MS) problems.push(`${k} must be at most ${MAX_TIMER_MS} ms`);
  }
  if (v.failRate !== undefined && !(typeof v.failRate === 'number' && v.failRate >= 0 && v.failRate <= 1)) problems.push('failRate must be a number in [0, 1]');
  if (v.status !== undefined && !(Number.isInteger(v.status) && (v.status as number) >= 100 && (v.status as number) <= 599)) problems.push('status must be an HTTP status (100-599)');
  if (v.text !== undefined && typeof v.text !== 'string') problems.push('text must be a string');
  if (v.omitUsage !== undefined && typeof v.omitUsage !== 'boolean') problems.push('omitUsage must be a boolean');
  if (v.prefill !== undefined && v.prefill !== 'ignore' && v.prefill !== 'continue') problems.push(`prefill must be 'ignore' or 'continue' (got ${JSON.stringify(v.prefill)})`);
  if (v.refusal !== undefined && typeof v.refusal !== 'string') problems.push('refusal must be a string');
  if (
    v.toolCalls !== undefined &&
    !(
      Array.isArray(v.toolCalls) &&
      v.toolCalls.every(
        (c: { name?: unknown; arguments?: unknown; id?: unknown } | null) =>
          c !== null && typeof c === 'object' && typeof c.name === 'string' && (typeof c.arguments === 'string' || (c.arguments !== null && typeof c.arguments === 'object')) && (c.id === undefined || typeof c.id === 'string'),
      )
    )
  ) {
    problems.push('toolCalls must be an array of { name: string, arguments: string | object, id?: string }');
  }
  if (v.headers !== undefined && (v.headers === null || typeof v.headers !== 'object' || Object.values(v.headers).some((h) => typeof h !== 'string'))) {
    problems.push('headers must be an object of strings');
  }
  if (problems.length > 0) throw new TypeError(`fake behaviour of "${model}": ${problems.join('; ')}`);
  return { ...(v as FakeBehavior) };
}

/** One request the fake received. Headers are not kept: no credential is ever stored. */
export interface FakeRequestRecord {
  model: string;
  body: Record<string, unknown>;
  receivedAt: number;
  /** What the fake did with it. */
  mode: FakeMode;
  /** `pending` until answered; `aborted` when the client closed the connection first. */
  state: 'pending' | 'completed' | 'aborted' | 'failed';
}

export interface FakeStats {
  requests: number;
  completed: number;
  failed: number;
  aborted: number;
  pending: number;
}

export interface FakeLlmOptions {
  /** Default: 0 (a free port). */
  port?: number;
  /** Default: 127.0.0.1. */
  host?: string;
  /** Initial behaviours by model id; `'*'` is the default for any other model. */
  behaviors?: Record<string, FakeBehavior>;
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401. */
  apiKey?: string;
  /**
   * Requests kept for `requests()` (the oldest finished ones are forgotten beyond it; `stats()` and the counts
   * still include them). Default: all (a test reads them); a long-running server (the demo) sets a bound.
   */
  maxRecords?: number;
}

export interface FakeLlm {
  /** Base URL to give the openai SDK, e.g. `http://127.0.0.1:43125/v1`. */
  url: string;
  port: number;
  /** Replaces a model's behaviour (`'*'`: the default for unconfigured models). */
  setBehavior(model: string, behavior: FakeBehavior): void;
  /**
   * Requests received (for one model, or all), oldest first (the last `maxRecords` of them, pending ones kept).
   * The array also carries the counts as (non-enumerable) properties: `total`, `completed`, `failed`, `aborted`,
   * `pending`, forgotten requests included.
   */
  requests(model?: string): FakeRequestRecord[] & Readonly<FakeStats & { total: number }>;
  /** Counts of requests, completions, failures and aborted requests. */
  stats(model?: string): FakeStats;
  /** Forgets recorded requests (behaviours stay). */
  resetRequests(): void;
  /** Stops the server and destroys open connections (hanging requests included). */
  close(): Promise<void>;
}

/** Wire formats the fake also speaks, on the same server and with the same behaviours (see `FakeDialect`). */
const DIALECTS: readonly FakeDialect[] = [fakeAnthropicApi, fakeGeminiApi];

interface Pending {
  record: FakeRequestRecord;
  res: ServerResponse;
  timer?: NodeJS.Timeout;
}

/** Starts a real OpenAI-compatible HTTP server on loopback: `POST /v1/chat/completions`, `GET /v1/models`. */
export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlm> {
  const behaviors = new Map<string, FakeBehavior>(Object.entries(options.behaviors ?? {}).map(([model, b]) => [model, checkBehavior(model, b)]));
  let records: FakeRequestRecord[] = [];
  /** Counts of the finished requests forgotten beyond `maxRecords`, per model. */
  let forgotten = new Map<string, FakeStats>();
  const maxRecords = options.maxRecords ?? Infinity;
  if (!(maxRecords >= 1)) throw new TypeError('startFakeLlm: maxRecords must be at least 1');
  const record = (r: FakeRequestRecord): void => {
    records.push(r);
    // in batches (a tenth of the bound at least), so that keeping the bound costs O(1) per request
    if (records.length > maxRecords + Math.max(1, Math.floor(maxRecords / 10))) forgetOldest();
  };
  /** Forgets the oldest finished records down to `maxRecords` (a pending one is kept until it ends). */
  function forgetOldest(): void {
    let excess = records.length - maxRecords;
    records = records.filter((r) => {
      if (excess <= 0 || r.state === 'pending') return true;
      excess--;
      const f = forgotten.get(r.model) ?? { requests: 0, completed: 0, failed: 0, aborted: 0, pending: 0 };
      f.requests++;
      f[r.state]++;
      forgotten.set(r.model, f);
      return false;
    });
  }
  const pending = new Set<Pending>();
  let seq = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: 'fake server bug', type: 'server_error' } });
    });
  });
  server.keepAliveTimeout = 5000;

  /** How many requests each behaviour with `times` has taken so far. */
  const timesUsed = new WeakMap<FakeBehavior, number>();
  /** Records a request and picks what the fake does with it; the record ends when the response closes. */
  function begin(model: string, body: Record<string, unknown>, res: ServerResponse): FakeExchange {
    return open(model, body, res)[0];
  }
  function open(model: string, body: Record<string, unknown>, res: ServerResponse): [FakeExchange, Pending] {
    const behavior = behaviors.get(model) ?? behaviors.get('*') ?? {};
    let mode = pickMode(behavior);
    if (behavior.times !== undefined) {
      const used = timesUsed.get(behavior) ?? 0;
      timesUsed.set(behavior, used + 1);
      if (used >= behavior.times) mode = 'ok';
    }
    const rec: FakeRequestRecord = { model, body, receivedAt: Date.now(), mode, state: 'pending' };
    record(rec);
    const p: Pending = { record: rec, res };
    pending.add(p);
    res.on('close', () => {
      pending.delete(p);
      if (p.timer) clearTimeout(p.timer);
      if (rec.state === 'pending') rec.state = res.writableFinished ? 'completed' : 'aborted';
    });
    const id = ++seq;
    const exchange: FakeExchange = {
      record: rec,
      res,
      behavior,
      mode,
      id,
      later(fn, ms) {
        if (res.destroyed) return;
        const delay = ms ?? (behavior.latencyMs ?? 0) + Math.random() * (behavior.jitterMs ?? 0);
        if (delay > 0) p.timer = setTimeout(fn, timerDelay(delay)); // latency + jitter may pass the timer limit
        else fn();
      },
    };
    return [exchange, p];
  }
  const dialectContext: FakeDialectContext = { apiKey: options.apiKey, begin, readBody, sendJson, script: fakeScript };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    for (const dialect of DIALECTS) if (dialect.owns(req.method ?? '', path)) return dialect.handle(req, res, path, dialectContext);
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    if (req.method === 'GET' && path === '/v1/models') {
      const ids = [...behaviors.keys()].filter((k) => k !== '*');
      return sendJson(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
    }
    if (req.method === 'POST' && path === '/v1/embeddings') {
      let eb: { model?: unknown; input?: unknown };
      try {
        eb = JSON.parse(await readBody(req)) as typeof eb;
      } catch {
        return sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      }
      const inputs = Array.isArray(eb.input) ? eb.input : [eb.input];
      if (inputs.some((x) => typeof x !== 'string')) return sendJson(res, 400, { error: { message: 'input must be a string or strings', type: 'invalid_request_error' } });
      const model = typeof eb.model === 'string' ? eb.model : '';
      const behavior = behaviors.get(model) ?? {};
      record({ model, body: eb as Record<string, unknown>, receivedAt: Date.now(), mode: behavior.mode ?? 'ok', state: 'completed' });
      const answer = (): void =>
        behavior.mode === 'error'
          ? sendJson(res, behavior.status ?? 500, { error: { message: 'The fake provider failed (simulated)', type: 'server_error' } })
          : sendJson(res, 200, {
              object: 'list',
              model,
              data: (inputs as string[]).map((text, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(text) })),
              usage: { prompt_tokens: 1, total_tokens: 1 },
            });
      if (behavior.latencyMs) setTimeout(answer, timerDelay(behavior.latencyMs));
      else answer();
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    } catch {
      return sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    const [x, p] = open(typeof body.model === 'string' ? body.model : '', body, res);
    if (x.mode === 'hang') return;
    x.later(() => respond(p, x.mode, x.behavior, body, x.id));
  }

  function respond(p: Pending, mode: FakeMode, behavior: FakeBehavior, body: Record<string, unknown>, id: number): void {
    const { res, record } = p;
    if (res.destroyed) return;
    const model = record.model;
    switch (mode) {
      case 'reset':
        record.state = 'failed';
        res.socket?.destroy();
        return;
      case 'error':
        record.state = 'failed';
        return sendJson(res, behavior.status ?? 500, { error: { message: 'The fake provider failed (simulated)', type: 'server_error', code: null } }, behavior.headers);
      case 'context_length':
        record.state = 'failed';
        return sendJson(res, 400, {
          error: { message: 'This model\'s maximum context length is exceeded (simulated)', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' },
        });
      case 'rate_limit':
        record.state = 'failed';
        return sendJson(
          res,
          429,
          { error: { message: 'Rate limit reached (simulated)', type: 'requests', code: 'rate_limit_exceeded' } },
          { ...(behavior.retryAfterS !== undefined ? { 'retry-after': String(behavior.retryAfterS) } : {}), ...behavior.headers },
        );
      case 'malformed':
        record.state = 'failed';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"chatcmpl-broken","choices":[{"message":');
        return;
      case 'empty':
        record.state = 'completed';
        return sendJson(res, 200, completion(id, model, [], body));
      case 'blocked':
        record.state = 'completed';
        return sendJson(res, 200, completion(id, model, [{ ...assistantChoice('', 'content_filter'), message: { role: 'assistant', content: null, refusal: null } }], body));
      case 'stream_error':
        if (body.stream === true) return streamAnswer(p, mode, behavior, body, id);
        record.state = 'failed';
        return sendJson(res, behavior.status ?? 500, { error: { message: 'The fake provider failed (simulated)', type: 'server_error', code: null } }, behavior.headers);
      default: {
        if (body.stream === true) return streamAnswer(p, mode, behavior, body, id);
        record.state = 'completed';
        const sc = fakeScript(behavior, model, body, mode);
        const choice = assistantChoice(sc.text, sc.finishReason);
        const message = choice.message as Record<string, unknown>;
        if (sc.toolCalls.length > 0) message.tool_calls = sc.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
        if (sc.refusal !== undefined) {
          message.refusal = sc.refusal;
          message.content = null;
        }
        if (body.logprobs === true) choice.logprobs = fakeLogprobs(sc.text);
        // `n` choices, as OpenAI's API answers them: the others say the same, numbered (JSON text stays as it is)
        const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? Math.min(body.n, 16) : 1;
        const more = Array.from({ length: n - 1 }, (_, i) => {
          const c = structuredClone(choice) as Record<string, unknown>;
          c.index = i + 1;
          const msg = c.message as Record<string, unknown>;
          if (typeof msg.content === 'string' && msg.content !== '' && !isJson(msg.content)) msg.content = `${msg.content} #${i + 2}`;
          return c;
        });
        const answer = completion(id, model, [choice, ...more], body, sc.text) as Record<string, unknown>;
        answer.system_fingerprint = 'fp_fake';
        return sendJson(res, 200, withoutUsage(answer, behavior.omitUsage === true), behavior.headers);
      }
    }
  }

  /** OpenAI's SSE wire format: role chunk, content chunks, finish chunk, optional usage chunk, [DONE]. */
  function streamAnswer(p: Pending, mode: FakeMode, behavior: FakeBehavior, body: Record<string, unknown>, id: number): void {
    const { res, record } = p;
    const model = record.model;
    const sc = fakeScript(behavior, model, body, mode);
    const text = sc.text;
    const pieces: Record<string, unknown>[] = text === '' ? [] : (text.match(/\S+\s*|\s+/g) ?? [text]).map((content) => ({ content }));
    if (sc.refusal !== undefined) pieces.push({ refusal: sc.refusal });
    sc.toolCalls.forEach((c, index) => {
      const half = Math.ceil(c.arguments.length / 2);
      pieces.push({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments.slice(0, half) } }] });
      pieces.push({ tool_calls: [{ index, function: { arguments: c.arguments.slice(half) } }] });
    });
    const created = Math.floor(Date.now() / 1000);
    const meta = { id: `chatcmpl-fake-${id}`, created, model };
    const chunk = (delta: Record<string, unknown>, finish: string | null): string => dataFrame(completionChunk(meta, delta, finish));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...behavior.headers });
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const failAfter = behavior.failAfterChunks ?? 2;
    let i = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if ((mode === 'stall' || mode === 'cut' || mode === 'stream_error') && i >= failAfter) {
        if (mode === 'stream_error') {
          record.state = 'failed';
          res.end(dataFrame({ error: { message: 'The fake provider failed mid-stream (simulated)', type: 'server_error', code: null } }));
          return;
        }
        if (mode === 'cut') {
          record.state = 'failed';
          res.socket?.destroy();
        }
        return; // stall: keep the connection open, send nothing more
      }
      if (i < pieces.length) {
        res.write(chunk(pieces[i++], null));
        p.timer = setTimeout(next, behavior.chunkDelayMs ?? 5);
        return;
      }
      if (mode === 'no_done') {
        record.state = 'failed';
        res.end();
        return;
      }
      res.write(chunk({}, sc.finishReason));
      const opts = body.stream_options as { include_usage?: boolean } | undefined;
      if (opts?.include_usage && !behavior.omitUsage) {
        res.write(dataFrame(usageChunk(meta, fakeUsage(body, text))));
      }
      res.write(DONE_FRAME);
      record.state = 'completed';
      res.end();
    };
    next();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';

  const filter = (model?: string): FakeRequestRecord[] => (model === undefined ? records.slice() : records.filter((r) => r.model === model));
  const statsOf = (rs: FakeRequestRecord[], model?: string): FakeStats => {
    const count = (s: FakeRequestRecord['state']): number => rs.filter((r) => r.state === s).length;
    const st = { requests: rs.length, completed: count('completed'), failed: count('failed'), aborted: count('aborted'), pending: count('pending') };
    for (const [m, f] of forgotten) {
      if (model !== undefined && m !== model) continue;
      st.requests += f.requests;
      st.completed += f.completed;
      st.failed += f.failed;
      st.aborted += f.aborted;
    }
    return st;
  };

  return {
    url: `http://${host}:${port}/v1`,
    port,
    setBehavior(model, behavior) {
      behaviors.set(model, checkBehavior(model, behavior));
    },
    requests(model) {
      const rs = filter(model);
      const st = statsOf(rs, model);
      return Object.defineProperties(rs, {
        total: { value: st.requests },
        requests: { value: st.requests },
        completed: { value: st.completed },
        failed: { value: st.failed },
        aborted: { value: st.aborted },
        pending: { value: st.pending },
      }) as FakeRequestRecord[] & Readonly<FakeStats & { total: number }>;
    },
    stats(model) {
      return statsOf(filter(model), model);
    },
    resetRequests() {
      records = [];
      forgotten = new Map();
    },
    close() {
      for (const p of pending) {
        if (p.timer) clearTimeout(p.timer);
      }
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * A deterministic embedding for `/v1/embeddings`: a normalised bag of lower-cased words hashed into 256
 * dimensions (plus a little of each word's character trigrams), so texts sharing most words are close.
 */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(256).fill(0);
  const hash = (s: string): number => {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return (h >>> 0) % 256;
  };
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []) {
    v[hash(word)] += 1;
    for (let i = 0; i + 3 <= word.length; i++) v[hash(`#${word.slice(i, i + 3)}`)] += 0.25;
  }
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

function withoutUsage(c: unknown, omit: boolean): unknown {
  if (!omit) return c;
  const { usage: _usage, ...rest } = c as Record<string, unknown>;
  return rest;
}

function pickMode(b: FakeBehavior): FakeMode {
  const mode = b.mode ?? 'ok';
  if (b.failRate === undefined) return mode;
  if (Math.random() >= b.failRate) return 'ok';
  return mode === 'ok' ? 'error' : mode;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 10 * 1024 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A message's text: its string content, or its text parts joined (`[{ type: 'text', text }]`). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p: { type?: unknown; text?: unknown } | null) => (p?.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return textOf(m.content);
  }
  return '';
}

/** What the model answers: its text, or with `prefill: 'continue'` what follows a trailing assistant message. */
function answerText(behavior: FakeBehavior, model: string, body: Record<string, unknown>): string {
  const full = behavior.text ?? defaultText(model, body);
  if (behavior.prefill !== 'continue') return full;
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  const last = messages[messages.length - 1];
  if (last?.role !== 'assistant') return full;
  const prefill = textOf(last.content);
  return prefill !== '' && full.startsWith(prefill) ? full.slice(prefill.length) : full;
}

function defaultText(model: string, body: Record<string, unknown>): string {
  return `${model} answer: ${lastUserText(body).slice(0, 80)}`;
}

function promptChars(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : [];
  return messages.reduce((n, m) => n + textOf(m?.content).length, 0);
}

/** The usage the fake reports: about four characters a token, plus a few for the message framing. */
function fakeUsage(body: Record<string, unknown>, text: string): WireUsage {
  const promptTokens = Math.ceil(promptChars(body) / 4) + 3;
  const completionTokens = Math.ceil(text.length / 4);
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

function completion(id: number, model: string, choices: unknown[], body: Record<string, unknown>, text = ''): unknown {
  return chatCompletion({ id: `chatcmpl-fake-${id}`, created: Math.floor(Date.now() / 1000), model }, choices, fakeUsage(body, text));
}

/** What the fake answers to one request, whatever the wire format: `text` (cut for `truncated`), tool calls, refusal. */
export interface FakeScript {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  refusal: string | undefined;
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** The usage it reports for this request (about four characters a token). */
  usage: WireUsage;
}

/**
 * The answer a behaviour scripts for a request, given as an OpenAI-shaped body (`messages` with `role` and
 * `content`; other wire formats pass their request in that shape): its text (what follows a trailing assistant
 * message with `prefill: 'continue'`; half of it for `truncated`), its tool calls and refusal, and the finish reason.
 */
function fakeScript(behavior: FakeBehavior, model: string, body: Record<string, unknown>, mode: FakeMode = 'ok'): FakeScript {
  const tools = behavior.toolCalls ?? [];
  const full = tools.length > 0 || behavior.refusal !== undefined ? (behavior.text ?? '') : answerText(behavior, model, body);
  const truncated = mode === 'truncated';
  const text = truncated ? full.slice(0, Math.max(1, Math.floor(full.length / 2))) : full;
  const toolCalls = tools.map((c, i) => ({ id: c.id ?? `call_${i + 1}`, name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) }));
  const finishReason = truncated ? 'length' : toolCalls.length > 0 ? 'tool_calls' : 'stop';
  return { text, toolCalls, refusal: behavior.refusal, finishReason, usage: fakeUsage(body, text + toolCalls.map((c) => c.name + c.arguments).join('')) };
}

/** OpenAI's `logprobs` of a choice, for a request with `logprobs: true`: each word, with a made-up log probability. */
function fakeLogprobs(text: string): { content: { token: string; logprob: number; bytes: number[]; top_logprobs: [] }[] } {
  const tokens = text.match(/\S+\s*|\s+/g) ?? [];
  return { content: tokens.map((token) => ({ token, logprob: -0.01, bytes: [...Buffer.from(token)], top_logprobs: [] })) };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
