import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeDialect, FakeDialectContext, FakeExchange } from './fake-dialect';
import type { FakeScript } from './fake-llm-server';

/**
 * Anthropic's Messages API on the fake server: `POST /v1/messages` (the SDK's path with `baseURL` set to the
 * server's root, `http://127.0.0.1:<port>`; `/v1/v1/messages`, what the SDK calls when given the server's OpenAI
 * URL, is taken too). The key is read from `x-api-key` or `Authorization: Bearer` (the SDK sends the latter).
 * It answers from the same behaviours as the OpenAI endpoint (text, prefill, tool calls, refusal, usage and every
 * mode), in Anthropic's shapes: a `message` object, or its event stream (`message_start`, `content_block_start` /
 * `_delta` / `_stop`, `message_delta`, `message_stop`), errors as `{ type: 'error', error: { type, message } }`.
 *
 * Like the real API it continues a trailing assistant message (a behaviour's `prefill` defaults to `'continue'`
 * here), requires `max_tokens`, and refuses `temperature`, `top_p` and `top_k` (API version 2026-10-21).
 * A request with a `cache_control` marker anywhere reports half of its prompt as read from the prompt cache.
 */
export const fakeAnthropicApi: FakeDialect = {
  owns(method, path) {
    return method === 'POST' && (path === '/v1/messages' || path === '/v1/v1/messages');
  },
  async handle(req, res, _path, ctx) {
    if (ctx.apiKey !== undefined && !authorized(req, ctx.apiKey)) return sendError(ctx, res, 401, 'invalid x-api-key');
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(await ctx.readBody(req)) as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return sendError(ctx, res, 400, 'The request body is not valid JSON.');
    }
    if (typeof body.max_tokens !== 'number') return sendError(ctx, res, 400, 'max_tokens: Field required');
    for (const k of ['temperature', 'top_p', 'top_k']) if (k in body) return sendError(ctx, res, 400, `${k}: Extra inputs are not permitted`);
    const x = ctx.begin(typeof body.model === 'string' ? body.model : '', body, res);
    if (x.mode === 'hang') return;
    x.later(() => respond(x, body, ctx));
  },
};

function authorized(req: IncomingMessage, key: string): boolean {
  return req.headers['x-api-key'] === key || req.headers.authorization === `Bearer ${key}`;
}

/** Anthropic's error type for an HTTP status. */
function errorType(status: number): string {
  const types: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    402: 'billing_error',
    403: 'permission_error',
    404: 'not_found_error',
    413: 'request_too_large',
    429: 'rate_limit_error',
    500: 'api_error',
    504: 'timeout_error',
    529: 'overloaded_error',
  };
  return types[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

function errorBody(status: number, message: string): Record<string, unknown> {
  return { type: 'error', error: { type: errorType(status), message }, request_id: 'req_fake' };
}

function sendError(ctx: FakeDialectContext, res: ServerResponse, status: number, message: string, headers?: Record<string, string>): void {
  ctx.sendJson(res, status, errorBody(status, message), headers);
}

function respond(x: FakeExchange, body: Record<string, unknown>, ctx: FakeDialectContext): void {
  const { res, record, behavior, mode } = x;
  if (res.destroyed) return;
  const streamed = body.stream === true;
  switch (mode) {
    case 'reset':
      record.state = 'failed';
      res.socket?.destroy();
      return;
    case 'error': {
      record.state = 'failed';
      const status = behavior.status ?? 500;
      return sendError(ctx, res, status, status === 529 ? 'Overloaded' : 'The fake provider failed (simulated)', behavior.headers);
    }
    case 'context_length': {
      record.state = 'failed';
      const tokens = script(x, body, ctx).usage.prompt_tokens;
      return sendError(ctx, res, 400, `prompt is too long: ${200_000 + tokens} tokens > 200000 maximum`, behavior.headers);
    }
    case 'rate_limit': {
      record.state = 'failed';
      const waitS = behavior.retryAfterS ?? 1;
      const headers: Record<string, string> = {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': new Date(Date.now() + waitS * 1000).toISOString(),
        ...(behavior.retryAfterS !== undefined ? { 'retry-after': String(behavior.retryAfterS) } : {}),
        ...behavior.headers,
      };
      return sendError(ctx, res, 429, 'Number of requests has exceeded your rate limit (simulated)', headers);
    }
    case 'malformed':
      record.state = 'failed';
      if (streamed) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message_start\ndata: {"type":"message_start","message":{"id":\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"msg_broken","type":"message","content":[{"type":');
      return;
    case 'stream_error':
      if (streamed) return stream(x, body, ctx);
      record.state = 'failed';
      return sendError(ctx, res, behavior.status ?? 500, 'The fake provider failed (simulated)', behavior.headers);
    default:
      if (streamed) return stream(x, body, ctx);
      record.state = 'completed';
      return ctx.sendJson(res, 200, message(x, body, ctx), behavior.headers);
  }
}

/** The behaviour's answer to this request (the request given as OpenAI-shaped messages). */
function script(x: FakeExchange, body: Record<string, unknown>, ctx: FakeDialectContext): FakeScript {
  return ctx.script({ prefill: 'continue', ...x.behavior }, x.record.model, { messages: openaiShaped(body) }, x.mode);
}

/** Anthropic's request as OpenAI-shaped messages (what the shared behaviours read): system, turns, tool results. */
function openaiShaped(body: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const system = textOf(body.system);
  if (system !== '') out.push({ role: 'system', content: system });
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  for (const m of messages) {
    if (Array.isArray(m?.content)) {
      for (const b of m.content as { type?: unknown; content?: unknown }[]) if (b?.type === 'tool_result') out.push({ role: 'tool', content: textOf(b.content) });
    }
    const text = textOf(m?.content);
    if (text !== '' || m?.role === 'assistant') out.push({ role: m?.role === 'assistant' ? 'assistant' : 'user', content: text });
  }
  return out;
}

/** A string, or the text blocks of a block list, joined. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((b: { type?: unknown; text?: unknown } | null) => (b?.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('');
}

/** The usage Anthropic would report: the shared counts, half the prompt read from the cache when the request marks one. */
function usageOf(sc: FakeScript, body: Record<string, unknown>): Record<string, number> {
  const prompt = sc.usage.prompt_tokens;
  const cached = JSON.stringify(body).includes('"cache_control"') ? Math.floor(prompt / 2) : 0;
  return { input_tokens: prompt - cached, output_tokens: sc.usage.completion_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: cached };
}

const STOP_REASON = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' } as const;

/** The stop reason and its details: a refusal (the behaviour's, or `blocked`'s without an explanation) or the script's. */
function stopOf(x: FakeExchange, sc: FakeScript): { stop_reason: string; stop_details: Record<string, unknown> | null } {
  if (x.mode === 'blocked') return { stop_reason: 'refusal', stop_details: null };
  if (sc.refusal !== undefined) return { stop_reason: 'refusal', stop_details: { type: 'refusal', category: null, explanation: sc.refusal } };
  return { stop_reason: STOP_REASON[sc.finishReason], stop_details: null };
}

interface FakeBlock {
  type: 'text' | 'tool_use';
  text?: string;
  id?: string;
  name?: string;
  /** A tool call's arguments as the behaviour gave them (sent as they are when streamed). */
  json?: string;
}

/** The answer's content blocks: none for a refusal, `blocked` or `empty`; else its text, then its tool calls. */
function blocksOf(x: FakeExchange, sc: FakeScript): FakeBlock[] {
  if (x.mode === 'blocked' || x.mode === 'empty' || sc.refusal !== undefined) return [];
  const blocks: FakeBlock[] = sc.text === '' ? [] : [{ type: 'text', text: sc.text }];
  sc.toolCalls.forEach((c, i) => blocks.push({ type: 'tool_use', id: x.behavior.toolCalls?.[i]?.id ?? `toolu_fake_${x.id}_${i + 1}`, name: c.name, json: c.arguments }));
  return blocks;
}

function inputOf(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function message(x: FakeExchange, body: Record<string, unknown>, ctx: FakeDialectContext): Record<string, unknown> {
  const sc = script(x, body, ctx);
  const content = blocksOf(x, sc).map((b) => (b.type === 'text' ? { type: 'text', text: b.text, citations: null } : { type: 'tool_use', id: b.id, name: b.name, input: inputOf(b.json ?? '{}') }));
  const stop = x.mode === 'empty' ? { stop_reason: 'end_turn', stop_details: null } : stopOf(x, sc);
  const m: Record<string, unknown> = { id: `msg_fake_${x.id}`, type: 'message', role: 'assistant', model: x.record.model, content, ...stop, stop_sequence: null };
  if (!x.behavior.omitUsage) m.usage = usageOf(sc, body);
  return m;
}

const frame = (event: string, data: Record<string, unknown>): string => `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;

/**
 * Anthropic's event stream: `message_start`, a `ping`, each content block (`content_block_start`, its deltas,
 * `content_block_stop`; text in words, a tool call's JSON in two `input_json_delta` pieces), `message_delta` with
 * the stop reason and usage, `message_stop`. `stall`, `cut` and `stream_error` strike after `failAfterChunks`
 * deltas (`stream_error`: an `error` event, `overloaded_error` unless `status` names another type); `no_done`
 * sends every block, then ends without `message_delta` and `message_stop`.
 */
function stream(x: FakeExchange, body: Record<string, unknown>, ctx: FakeDialectContext): void {
  const { res, record, behavior, mode } = x;
  const sc = script(x, body, ctx);
  const usage = usageOf(sc, body);
  const frames: { text: string; delta: boolean }[] = [];
  blocksOf(x, sc).forEach((b, index) => {
    if (b.type === 'text') {
      frames.push({ text: frame('content_block_start', { index, content_block: { type: 'text', text: '', citations: null } }), delta: false });
      for (const w of (b.text ?? '').match(/\S+\s*|\s+/g) ?? []) frames.push({ text: frame('content_block_delta', { index, delta: { type: 'text_delta', text: w } }), delta: true });
    } else {
      const json = b.json ?? '';
      const half = Math.ceil(json.length / 2);
      frames.push({ text: frame('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }), delta: false });
      for (const piece of [json.slice(0, half), json.slice(half)]) frames.push({ text: frame('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }), delta: true });
    }
    frames.push({ text: frame('content_block_stop', { index }), delta: false });
  });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...behavior.headers });
  const start = { id: `msg_fake_${x.id}`, type: 'message', role: 'assistant', model: record.model, content: [], stop_reason: null, stop_sequence: null, stop_details: null };
  res.write(frame('message_start', { message: behavior.omitUsage ? start : { ...start, usage: { ...usage, output_tokens: 1 } } }));
  res.write(frame('ping', {}));
  const failAfter = behavior.failAfterChunks ?? 2;
  let deltas = 0;
  let i = 0;
  const next = (): void => {
    if (res.destroyed) return;
    while (i < frames.length) {
      const f = frames[i];
      if (f.delta && deltas >= failAfter && (mode === 'stall' || mode === 'cut' || mode === 'stream_error')) {
        if (mode === 'stream_error') {
          record.state = 'failed';
          const status = behavior.status ?? 529;
          res.end(frame('error', { error: { type: errorType(status), message: status === 529 ? 'Overloaded' : 'The fake provider failed mid-stream (simulated)' } }));
        } else if (mode === 'cut') {
          record.state = 'failed';
          res.socket?.destroy();
        }
        return; // stall: keep the connection open, send nothing more
      }
      res.write(f.text);
      i++;
      if (f.delta) {
        deltas++;
        x.later(next, behavior.chunkDelayMs ?? 5);
        return;
      }
    }
    if (mode === 'no_done') {
      record.state = 'failed';
      res.end();
      return;
    }
    const stop = x.mode === 'empty' ? { stop_reason: 'end_turn', stop_details: null } : stopOf(x, sc);
    res.write(frame('message_delta', { delta: { ...stop, stop_sequence: null }, ...(behavior.omitUsage ? {} : { usage }) }));
    res.write(frame('message_stop', {}));
    record.state = 'completed';
    res.end();
  };
  next();
}
