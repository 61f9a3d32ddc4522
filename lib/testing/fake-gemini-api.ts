import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeDialect, FakeDialectContext, FakeExchange } from './fake-dialect';
import type { FakeScript } from './fake-llm-server';

/**
 * The Gemini API on the fake server: `POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse` (the paths `@google/genai` uses with `httpOptions.baseUrl` set to the server's
 * root), answering from the same behaviours as the OpenAI routes, in Gemini's words:
 * - text as a `text` part, tool calls as `functionCall` parts (`args` an object; an `id` only when the behaviour's
 *   tool call names one, as the Gemini API mostly sends none; a `thoughtSignature` on the first), a refusal as text
 *   (Gemini has no refusal field);
 *   thought parts too when the request asks for them (`thinkingConfig.includeThoughts`);
 * - `truncated`: finish reason `MAX_TOKENS`; `blocked`: finish reason `SAFETY` and no content, or, when the
 *   behaviour has a `refusal`, the prompt itself blocked (`promptFeedback.blockReason`, no candidate, the refusal
 *   as `blockReasonMessage`); `empty`: no candidate at all;
 * - errors as `google.rpc.Status` bodies (`{ error: { code, message, status, details } }`): `rate_limit` is a 429
 *   `RESOURCE_EXHAUSTED` with a `RetryInfo` detail when the behaviour has `retryAfterS`; `context_length` a 400
 *   `INVALID_ARGUMENT` saying the input token count exceeds the maximum; `stream_error` an error object sent inside
 *   the stream after `failAfterChunks` chunks;
 * - when the server has an `apiKey`: a request without `x-goog-api-key` (or `?key=`) gets Gemini's 403, one with
 *   another key its 400 `API_KEY_INVALID`.
 */
export const fakeGeminiApi: FakeDialect = {
  owns(method, path) {
    return method === 'POST' && ROUTE.test(path);
  },
  async handle(req, res, path, ctx) {
    const [, model, action] = ROUTE.exec(path) as RegExpExecArray;
    if (!authorized(req, res, ctx)) return;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await ctx.readBody(req)) as Record<string, unknown>;
    } catch {
      return ctx.sendJson(res, 400, rpcError(400, 'Invalid JSON payload received.'));
    }
    const x = ctx.begin(decodeURIComponent(model), body, res);
    if (x.mode === 'hang') return;
    x.later(() => respond(x, ctx, body, action === 'streamGenerateContent'));
  },
};

const ROUTE = /^\/v1(?:beta|alpha)?\d*\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

/** The Gemini API's names for HTTP statuses (`google.rpc.Code`). */
const RPC_STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function rpcError(code: number, message: string, details?: unknown[]): unknown {
  return { error: { code, message, status: RPC_STATUS[code] ?? 'UNKNOWN', ...(details ? { details } : {}) } };
}

function authorized(req: IncomingMessage, res: ServerResponse, ctx: FakeDialectContext): boolean {
  if (ctx.apiKey === undefined) return true;
  const header = req.headers['x-goog-api-key'];
  const key = typeof header === 'string' ? header : new URL(req.url ?? '/', 'http://fake').searchParams.get('key');
  if (key === ctx.apiKey) return true;
  if (key === null || key === '') {
    ctx.sendJson(res, 403, rpcError(403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.'));
  } else {
    ctx.sendJson(
      res,
      400,
      rpcError(400, 'API key not valid. Please pass a valid API key.', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
      ]),
    );
  }
  return false;
}

function respond(x: FakeExchange, ctx: FakeDialectContext, body: Record<string, unknown>, stream: boolean): void {
  const { res, record, behavior, mode } = x;
  if (res.destroyed) return;
  const model = record.model;
  const sc = ctx.script(behavior, model, openaiShaped(body), mode);
  const fail = (status: number, payload: unknown, headers?: Record<string, string>): void => {
    record.state = 'failed';
    ctx.sendJson(res, status, payload, headers);
  };
  switch (mode) {
    case 'reset':
      record.state = 'failed';
      res.socket?.destroy();
      return;
    case 'error':
      return fail(behavior.status ?? 500, rpcError(behavior.status ?? 500, 'The fake provider failed (simulated)'), behavior.headers);
    case 'context_length': {
      const max = 1_048_576;
      return fail(400, rpcError(400, `The input token count (${max + sc.usage.prompt_tokens}) exceeds the maximum number of tokens allowed (${max}).`));
    }
    case 'rate_limit': {
      const details = behavior.retryAfterS !== undefined ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${behavior.retryAfterS}s` }] : undefined;
      return fail(429, rpcError(429, 'Resource has been exhausted (e.g. check quota). (simulated)', details), behavior.headers);
    }
    case 'malformed':
      record.state = 'failed';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"candidates":[{"content":');
      return;
    case 'stream_error':
      if (!stream) return fail(behavior.status ?? 500, rpcError(behavior.status ?? 500, 'The fake provider failed (simulated)'), behavior.headers);
      return streamAnswer(x, sc, body);
    default:
      if (stream) return streamAnswer(x, sc, body);
      record.state = 'completed';
      return ctx.sendJson(res, 200, wholeAnswer(x, sc, body), behavior.headers);
  }
}

/** The response of `generateContent` (and, for `empty` and `blocked`, the one chunk of a stream). */
function wholeAnswer(x: FakeExchange, sc: FakeScript, body: Record<string, unknown>): Record<string, unknown> {
  const meta = answerMeta(x, sc, body);
  if (x.mode === 'empty') return meta;
  if (x.mode === 'blocked') {
    if (x.behavior.refusal !== undefined) return { promptFeedback: { blockReason: 'SAFETY', blockReasonMessage: x.behavior.refusal }, ...meta };
    return { candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] }], ...meta };
  }
  const parts = [...thoughtParts(body), ...contentParts(x, sc)];
  return { candidates: [{ content: { role: 'model', parts }, finishReason: finishOf(sc), index: 0 }], ...meta };
}

/** Server-sent events: text a word or so a chunk, each function call in a chunk of its own, then the finish chunk. */
function streamAnswer(x: FakeExchange, sc: FakeScript, body: Record<string, unknown>): void {
  const { res, record, behavior, mode } = x;
  const meta = answerMeta(x, sc, body);
  const { usageMetadata, ...ids } = meta;
  const frame = (payload: unknown): string => `data: ${JSON.stringify(payload)}\r\n\r\n`;
  const chunk = (parts: unknown[]): string => frame({ candidates: [{ content: { role: 'model', parts }, index: 0 }], ...ids });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...behavior.headers });
  if (mode === 'empty' || mode === 'blocked') {
    record.state = 'completed';
    res.end(frame(wholeAnswer(x, sc, body)));
    return;
  }
  const pieces: unknown[][] = thoughtParts(body).map((p) => [p]);
  for (const part of contentParts(x, sc)) {
    if (typeof part.text === 'string') for (const word of part.text.match(/\S+\s*|\s+/g) ?? [part.text]) pieces.push([{ text: word }]);
    else pieces.push([part]);
  }
  const failAfter = behavior.failAfterChunks ?? 2;
  let i = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if ((mode === 'stall' || mode === 'cut' || mode === 'stream_error') && i >= failAfter) {
      if (mode === 'stream_error') {
        record.state = 'failed';
        const code = behavior.status ?? 500;
        res.end(frame(rpcError(code, 'The fake provider failed mid-stream (simulated)')));
      } else if (mode === 'cut') {
        record.state = 'failed';
        res.socket?.destroy();
      }
      return; // stall: keep the connection open, send nothing more
    }
    if (i < pieces.length) {
      res.write(chunk(pieces[i++]));
      x.later(next, behavior.chunkDelayMs ?? 5);
      return;
    }
    if (mode === 'no_done') {
      record.state = 'failed';
      res.end();
      return;
    }
    record.state = 'completed';
    res.end(frame({ candidates: [{ content: { role: 'model', parts: [{ text: '' }] }, finishReason: finishOf(sc), index: 0 }], ...(usageMetadata ? { usageMetadata } : {}), ...ids }));
  };
  next();
}

/** What every answer carries: usage (unless omitted), the model version and a response id. */
function answerMeta(x: FakeExchange, sc: FakeScript, body: Record<string, unknown>): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (x.behavior.omitUsage !== true) {
    const thoughts = wantsThoughts(body) ? THOUGHT_TOKENS : 0;
    const u = sc.usage;
    meta.usageMetadata = {
      promptTokenCount: u.prompt_tokens,
      candidatesTokenCount: u.completion_tokens,
      ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
      totalTokenCount: u.prompt_tokens + u.completion_tokens + thoughts,
    };
  }
  meta.modelVersion = x.record.model;
  meta.responseId = `fake-${x.id}`;
  return meta;
}

const THOUGHT_TOKENS = 7;

function wantsThoughts(body: Record<string, unknown>): boolean {
  const config = body.generationConfig as { thinkingConfig?: { includeThoughts?: unknown } } | undefined;
  return config?.thinkingConfig?.includeThoughts === true;
}

function thoughtParts(body: Record<string, unknown>): { text: string; thought: true }[] {
  return wantsThoughts(body) ? [{ text: 'Thinking about it (simulated).', thought: true }] : [];
}

/** The answer's parts: its text (or refusal), then its function calls. */
function contentParts(x: FakeExchange, sc: FakeScript): { text?: string; functionCall?: unknown; thoughtSignature?: string }[] {
  const parts: { text?: string; functionCall?: unknown; thoughtSignature?: string }[] = [];
  const text = sc.refusal ?? sc.text;
  if (text !== '') parts.push({ text });
  sc.toolCalls.forEach((c, i) => {
    const given = x.behavior.toolCalls?.[i]?.id;
    const call = { functionCall: { ...(given !== undefined ? { id: given } : {}), name: c.name, args: argsOf(c.arguments) } };
    // as Gemini's thinking models do: the first function call of an answer carries the thought signature
    parts.push(i === 0 ? { ...call, thoughtSignature: Buffer.from(`fake-signature-${x.id}`).toString('base64') } : call);
  });
  return parts;
}

function finishOf(sc: FakeScript): string {
  return sc.finishReason === 'length' ? 'MAX_TOKENS' : 'STOP';
}

/** Gemini's `args` is always an object: arguments that are not a JSON object are sent as `{}`. */
function argsOf(json: string): Record<string, unknown> {
  try {
    const v = JSON.parse(json) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * A Gemini request as the OpenAI-shaped body the behaviours read: the system instruction as a system message,
 * `model` turns as assistant messages, a user turn's text as a user message and its function responses as tool
 * messages.
 */
export function openaiShaped(body: Record<string, unknown>): Record<string, unknown> {
  const messages: { role: string; content: string }[] = [];
  const textOf = (parts: unknown): string => (Array.isArray(parts) ? parts.map((p: { text?: unknown; thought?: unknown } | null) => (typeof p?.text === 'string' && p.thought !== true ? p.text : '')).join('') : '');
  const system = body.systemInstruction as { parts?: unknown } | undefined;
  if (system) messages.push({ role: 'system', content: textOf(system.parts) });
  const contents = Array.isArray(body.contents) ? (body.contents as { role?: unknown; parts?: unknown }[]) : [];
  for (const c of contents) {
    const parts = Array.isArray(c?.parts) ? (c.parts as { functionResponse?: unknown }[]) : [];
    if (c?.role === 'model') {
      messages.push({ role: 'assistant', content: textOf(parts) });
      continue;
    }
    for (const p of parts) if (p?.functionResponse) messages.push({ role: 'tool', content: JSON.stringify((p.functionResponse as { response?: unknown }).response ?? {}) });
    const text = textOf(parts);
    if (text !== '' || !parts.some((p) => p?.functionResponse)) messages.push({ role: 'user', content: text });
  }
  return { messages };
}
