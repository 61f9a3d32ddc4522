import { createHash, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { LlmEngine } from '../core/engine';
import type { LlmStream } from '../core/stream/llm-stream';
import { ConfigError, type ConfigProblem } from '../errors/config-error';
import { isAllModelsFailedError } from '../errors/all-models-failed-error';
import { isRequestAbortedError } from '../errors/request-aborted-error';
import { isRequestError, type RequestError } from '../errors/request-error';
import type { ChatMessage, CompletionRequest, CompletionResult, ResponseFormat } from '../types';
import type { CallContext } from '../core/complete';
import type { AbortSource } from '../core/signals';
import { disconnectSignal, ignoreClientGone } from './disconnect-signal';
import { withResultHeaders, withStreamHeaders } from './llm-headers';
import { layersOf } from './request-layers';
import { prefixProblem, routeGuard } from './route-guard';
import { openEventStream, safeError } from './sse';
import { koaRouter } from './koa-router';

/** Options of `openAICompatibleRouter()`. */
export interface OpenAICompatibleRouterOptions {
  /** Bearer tokens a client must send (compared in constant time). Required, at least one. Never forwarded upstream. */
  apiKeys: string[];
  /**
   * Chain aliases: a request's `model` → configured model names. Default: `default` = the whole chain; any
   * configured model name also works alone (that model only).
   */
  aliases?: Record<string, string[]>;
  /** Path prefix. Default: `/v1`. */
  prefix?: string;
  /**
   * The `llmResilience()` middleware whose engine answers. Default: `ctx.llm` (mount the middleware before
   * the router; then cache scope and breakers of that mount apply).
   */
  llm?: { engine: LlmEngine };
  /** Largest accepted body. Default: 1 MiB. */
  maxBodyBytes?: number;
}

type Client = { complete(r: CompletionRequest): Promise<CompletionResult>; stream(r: CompletionRequest): LlmStream; models: string[] };

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

function openAIError(ctx: ParameterizedContext, status: number, message: string, type: string, code: string | null, param: string | null = null): void {
  ctx.status = status;
  ctx.body = { error: { message, type, param, code } };
}

/**
 * An @koa/router router serving `POST /v1/chat/completions` (streaming and not) and `GET /v1/models` in the
 * exact OpenAI wire format, so the official SDK, LangChain or curl can point `baseURL` at the app and get
 * the fallback chain, breakers, cache and timeouts for free.
 */
export function openAICompatibleRouter(options: OpenAICompatibleRouterOptions): Router {
  const problems: ConfigProblem[] = [];
  if (!options || !Array.isArray(options.apiKeys) || options.apiKeys.length === 0) problems.push({ path: '/apiKeys', message: 'must be a non-empty array of strings' });
  else options.apiKeys.forEach((k, i) => (typeof k !== 'string' || k.length < 8) && problems.push({ path: `/apiKeys/${i}`, message: 'must be a string of at least 8 characters' }));
  for (const [alias, names] of Object.entries(options?.aliases ?? {})) {
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) problems.push({ path: `/aliases/${alias}`, message: 'must be a non-empty array of model names' });
  }
  const known = options?.llm?.engine.options.models.map((m) => m.name);
  if (known) {
    for (const [alias, names] of Object.entries(options.aliases ?? {})) {
      for (const n of Array.isArray(names) ? names : []) if (!known.includes(n)) problems.push({ path: `/aliases/${alias}`, message: `names unknown model "${n}"` });
    }
  }
  const badPrefix = prefixProblem(options?.prefix);
  if (badPrefix) problems.push({ path: '/prefix', message: badPrefix });
  if (problems.length > 0) throw new ConfigError(problems);
  const keyDigests = options.apiKeys.map(digest);
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const router = new (koaRouter())({ prefix: options.prefix ?? '/v1' });

  const authorized = (ctx: ParameterizedContext): boolean => {
    const m = /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'));
    if (!m) return false;
    const got = digest(m[1].trim());
    let ok = false;
    for (const d of keyDigests) ok = timingSafeEqual(got, d) || ok; // no early exit
    return ok;
  };

  const clientFor = (ctx: ParameterizedContext): Client | null => {
    if (options.llm) {
      const engine = options.llm.engine;
      const expose = engine.options.exposeHeaders;
      // that middleware's tenant scope, as its `ctx.llm` applies it: tenants never share its cache's entries
      const scope = engine.cache?.scope;
      let signal: AbortSource | undefined;
      const call = (): CallContext => ({ signal: (signal ??= disconnectSignal(ctx)), scope: scope?.(ctx), task: layersOf(ctx).task });
      return {
        // the engine's `exposeHeaders`, as `ctx.llm` follows its middleware's
        complete: (r) => (expose ? withResultHeaders(ctx, engine.complete(r, call())) : engine.complete(r, call())),
        stream: (r) => engine.stream(r, expose ? withStreamHeaders(ctx, call()) : call()),
        models: engine.options.models.map((m) => m.name),
      };
    }
    const llm = (ctx as unknown as { llm?: ParameterizedContext['llm'] }).llm;
    if (!llm) return null;
    return { complete: (r) => llm.complete(r), stream: (r) => llm.stream(r), models: llm.status().models.map((m) => m.name) };
  };

  const chainFor = (model: string, models: string[]): string[] | undefined => {
    const aliases = options.aliases ?? {};
    if (Object.prototype.hasOwnProperty.call(aliases, model)) return aliases[model];
    if (model === 'default') return models;
    return models.includes(model) ? [model] : undefined;
  };

  // the key check runs in each route's own stack: however a path is spelt, if a route answers it, it was checked
  const guard = routeGuard(async (ctx, next) => {
    if (!authorized(ctx)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      return openAIError(ctx, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    await next();
  });

  router.get('/models', guard, (ctx) => {
    const client = clientFor(ctx);
    if (!client) return openAIError(ctx, 500, 'The LLM middleware is not mounted before this router.', 'server_error', null);
    const ids = [...new Set(['default', ...Object.keys(options.aliases ?? {}), ...client.models])];
    ctx.body = { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'koa-llm-resilience' })) };
  });

  router.post('/chat/completions', guard, async (ctx) => {
    ignoreClientGone(ctx); // a client leaving while its answer is read, awaited or streamed is not an app error
    const client = clientFor(ctx);
    if (!client) return openAIError(ctx, 500, 'The LLM middleware is not mounted before this router.', 'server_error', null);
    const read = await readBody(ctx, maxBody);
    if ('problem' in read) return openAIError(ctx, read.status, read.problem, 'invalid_request_error', null);
    const body = read.body;
    if (typeof body.model !== 'string' || body.model === '') return openAIError(ctx, 400, 'you must provide a model parameter', 'invalid_request_error', null, 'model');
    if (!Array.isArray(body.messages)) return openAIError(ctx, 400, "'messages' is a required property", 'invalid_request_error', null, 'messages');
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
      return openAIError(ctx, 400, "Invalid 'stream': must be a boolean.", 'invalid_request_error', null, 'stream');
    }
    const streamOptions = body.stream_options;
    if (streamOptions !== undefined && streamOptions !== null && (typeof streamOptions !== 'object' || Array.isArray(streamOptions))) {
      return openAIError(ctx, 400, "Invalid 'stream_options': must be an object.", 'invalid_request_error', null, 'stream_options');
    }
    if (body.n !== undefined && body.n !== 1) return openAIError(ctx, 400, 'n > 1 is not supported by this endpoint', 'invalid_request_error', null, 'n');
    if (body.tools !== undefined || body.functions !== undefined) return openAIError(ctx, 400, 'tools are not supported by this endpoint', 'invalid_request_error', null, 'tools');
    const unapplied = unsupportedSampling(body);
    if (unapplied) return openAIError(ctx, 400, `'${unapplied}' is not supported by this endpoint (only its default is accepted)`, 'invalid_request_error', null, unapplied);
    const chain = chainFor(body.model, client.models);
    if (!chain) return openAIError(ctx, 404, `The model '${body.model.slice(0, 100)}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');

    const request: CompletionRequest = { messages: body.messages as ChatMessage[], models: chain };
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (maxTokens !== undefined && maxTokens !== null) request.maxTokens = maxTokens as number;
    if (body.temperature !== undefined && body.temperature !== null) request.temperature = body.temperature as number;
    if (body.top_p !== undefined && body.top_p !== null) request.topP = body.top_p as number;
    if (body.stop !== undefined && body.stop !== null) request.stop = body.stop as string | string[];
    if (body.seed !== undefined && body.seed !== null) request.seed = body.seed as number;
    if (body.response_format !== undefined && body.response_format !== null) request.responseFormat = body.response_format as ResponseFormat;
    const id = `chatcmpl-${createHash('sha256').update(`${Date.now()}-${Math.random()}`).digest('hex').slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);

    try {
      if (body.stream === true) {
        const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
        return await streamOpenAI(ctx, client.stream(request), id, created, body.model, includeUsage);
      }
      const r = await client.complete(request);
      ctx.body = {
        id,
        object: 'chat.completion',
        created,
        model: r.providerModel,
        choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, finish_reason: r.finishReason, logprobs: null }],
        usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens },
        system_fingerprint: null,
      };
    } catch (err) {
      if (isRequestError(err)) {
        // OpenAI's own answer to a prompt too long for the model: a 400, never to be retried
        if (err.code === 'CONTEXT_LENGTH_EXCEEDED') return openAIError(ctx, 400, err.message, 'invalid_request_error', 'context_length_exceeded', 'messages');
        const { message, param } = onTheWire(err, body);
        return openAIError(ctx, err.status, message, 'invalid_request_error', err.status === 413 ? 'request_too_large' : 'invalid_request', param);
      }
      if (isAllModelsFailedError(err)) {
        ctx.set('Retry-After', String(err.retryAfterS));
        return openAIError(ctx, 503, err.message, 'server_error', 'all_models_failed');
      }
      if (isRequestAbortedError(err)) {
        ctx.status = 499;
        ctx.body = null;
        return;
      }
      throw err;
    }
  });

  return router;
}

/** OpenAI's SSE: a role chunk, content chunks, a finish chunk, the usage chunk if asked, `data: [DONE]`. */
async function streamOpenAI(ctx: ParameterizedContext, stream: LlmStream, id: string, created: number, alias: string, includeUsage: boolean): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next(); // failures before the first token become ordinary JSON errors
  const out = openEventStream(ctx);
  // The answering model is known only at the end: chunks carry the requested alias until then.
  let model = alias;
  const send = (data: unknown): void => {
    if (!out.destroyed && !out.writableEnded) out.write(`data: ${JSON.stringify(data)}\n\n`);
  };
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });
  void (async () => {
    try {
      send(chunk({ role: 'assistant', content: '' }, null));
      if (!first.done) send(chunk({ content: first.value }, null));
      for (;;) {
        const step = await it.next();
        if (step.done) break;
        send(chunk({ content: step.value }, null));
      }
      const r = await stream.result;
      model = r.providerModel;
      send(chunk({}, r.finishReason));
      if (includeUsage) {
        send({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices: [], usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens } });
      }
      if (!out.destroyed && !out.writableEnded) out.write('data: [DONE]\n\n');
    } catch (err) {
      // OpenAI's in-stream error shape; no [DONE], so no client mistakes it for a clean end.
      const e = safeError(err);
      send({ error: { message: e.message, type: e.type, param: null, code: e.code.toLowerCase() } });
    } finally {
      if (!out.destroyed) out.end();
    }
  })();
}

/**
 * The first sampling parameter the chain would not apply: refused rather than dropped, since it would change the
 * answer. Its default (or null) is accepted, as clients such as LangChain send the defaults.
 */
function unsupportedSampling(body: Record<string, unknown>): string | null {
  for (const k of ['frequency_penalty', 'presence_penalty'] as const) {
    if (body[k] !== undefined && body[k] !== null && body[k] !== 0) return k;
  }
  const bias = body.logit_bias;
  if (bias !== undefined && bias !== null && !(typeof bias === 'object' && Object.keys(bias).length === 0)) return 'logit_bias';
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) return 'logprobs';
  if (body.top_logprobs !== undefined && body.top_logprobs !== null) return 'top_logprobs';
  return null;
}

type ReadBody = { body: Record<string, unknown> } | { status: 400 | 413; problem: string };

/** The request's JSON object: parsed by a body parser mounted before, or read here up to `limit` bytes. */
async function readBody(ctx: ParameterizedContext, limit: number): Promise<ReadBody> {
  let value = (ctx.request as { body?: unknown }).body;
  if (value === undefined || value === null || typeof value !== 'object') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of ctx.req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > limit) return { status: 413, problem: 'Request body too large.' };
      chunks.push(c);
    }
    try {
      value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return { status: 400, problem: 'Request body is not valid JSON.' };
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { status: 400, problem: 'Request body must be a JSON object.' };
  return { body: value as Record<string, unknown> };
}

/** The request's fields by their wire names (`maxTokens` is whichever of the two the client sent). */
function wireName(field: string, body: Record<string, unknown>): string {
  if (field === 'maxTokens') return body.max_completion_tokens !== undefined && body.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  if (field === 'topP') return 'top_p';
  if (field === 'responseFormat') return 'response_format';
  return field;
}

/**
 * A `RequestError` as OpenAI words it: each problem's path named by the client's field (`/maxTokens` is
 * `max_tokens`, `/messages/0/role` is `messages.[0].role`), and the first one as `param`.
 */
function onTheWire(err: RequestError, body: Record<string, unknown>): { message: string; param: string | null } {
  let param: string | null = null;
  const problems = err.details.map((d) => {
    const m = /^\/([^/:\s]+)((?:\/[^:\s]*)?): (.*)$/.exec(d);
    if (!m) return d;
    const rest = m[2].split('/').filter(Boolean).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : seg));
    const name = [wireName(m[1], body), ...rest].join('.');
    param ??= name;
    return `'${name}': ${m[3]}`;
  });
  if (problems.length === 0 || err.status === 413) return { message: err.message, param };
  return { message: `Invalid request: ${problems.join('; ')}`, param };
}
