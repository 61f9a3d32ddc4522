import type Router from '@koa/router';
import type { Middleware, ParameterizedContext } from 'koa';
import type { LlmEngine } from '../engine';
import type { CallContext } from '../core/complete';
import type { AbortSource } from '../core/signals';
import { apiKeyCheck } from '../http/openai-wire/api-keys';
import { answerChatCompletion, type GatewayClient } from '../http/openai-wire/chat-completions';
import { checkGatewayOptions, GATEWAY_ROUTES, MODEL_ROUTE_BASE, type OpenAIGatewayOptions } from '../http/openai-wire/gateway-options';
import { modelById, modelList } from '../http/openai-wire/model-chain';
import { bodyParserProblem, readJsonObject } from '../http/openai-wire/read-body';
import { bodyProblem, methodNotAllowed, modelNotFound, unknownRoute } from '../http/openai-wire/route-answers';
import { invalidApiKey, notMounted, type WireAnswer } from '../http/openai-wire/wire-answer';
import { allowHeader, matchParamRoute, matchRoute, underPrefix } from '../http/route-path';
import { onNextStreamStart, withStreamStartListener } from '../http/stream-start-listener';
import { disconnectSignal, ignoreClientGone } from './disconnect-signal';
import { withResultHeaders, withStreamHeaders } from './llm-headers';
import { layersOf } from './request-layers';
import { routeGuard } from './route-guard';
import { openEventStream } from './sse';
import { koaRouter } from './koa-router';
import { OPTION_DEFAULTS } from '../core/options/option-defaults';

/** Options of `openAICompatibleRouter()`. */
export interface OpenAICompatibleRouterOptions extends OpenAIGatewayOptions {
  /**
   * The `llmResilience()` middleware whose engine answers. Default: `ctx.llm` (mount the middleware before
   * the router; then cache scope and breakers of that mount apply).
   */
  llm?: { engine: LlmEngine };
}

/** What `openAICompatibleRouter()` returns: an @koa/router router, with the error handler for body parsers before it. */
export type OpenAICompatibleRouter = Router & {
  /**
   * A Koa middleware to mount before the app's body parser (`app.use(gateway.errorHandler)`), for apps whose
   * parser runs before the router. On the gateway's paths only: it tells koa-bodyparser and @koa/bodyparser to
   * leave the body alone (`ctx.disableBodyParser`), so the gateway reads it with its own `maxBodyBytes`, and answers
   * an error another body parser throws there (not JSON: 400; too large: 413) in OpenAI's shape, after the key check.
   * Anything else passes through untouched.
   */
  readonly errorHandler: Middleware;
};

/** A route under the router's prefix that matches every path (path-to-regexp 8, as @koa/router 14 and 15 use; 6 before). */
function catchAll(router: Router, ...stack: Middleware[]): void {
  const all = router.all.bind(router) as unknown as (path: string, ...mw: Middleware[]) => unknown;
  try {
    all('/{*rest}', ...stack);
  } catch {
    all('/(.*)', ...stack); // @koa/router 12 and 13 (path-to-regexp 6), where `{*rest}` does not parse
  }
}

/** Sends a gateway answer on the Koa response (no body: an empty answer, as for a client that left). */
function answer(ctx: ParameterizedContext, a: WireAnswer): void {
  ctx.status = a.status;
  for (const [name, value] of Object.entries(a.headers)) ctx.set(name, value);
  ctx.body = a.body;
}

/**
 * An @koa/router router serving `POST /v1/chat/completions` (streaming and not), `GET /v1/models` and
 * `GET /v1/models/{id}` in the exact OpenAI wire format, so the official SDK, LangChain or curl can point `baseURL`
 * at the app and get the fallback chain, breakers, cache and timeouts for free. Every other request under the
 * prefix is answered in OpenAI's shape too, after the key check: 405 with `Allow` for a known path, 404 otherwise.
 * The wire protocol is `lib/http/openai-wire`'s; this is its Koa adapter. Throws `ConfigError` listing every bad option.
 */
export function openAICompatibleRouter(options: OpenAICompatibleRouterOptions): OpenAICompatibleRouter {
  checkGatewayOptions(options);
  const authorized = apiKeyCheck(options.apiKeys);
  const maxBody = options.maxBodyBytes ?? OPTION_DEFAULTS.gateway.maxBodyBytes;
  const prefix = options.prefix ?? OPTION_DEFAULTS.gateway.prefix;
  const router = new (koaRouter())({ prefix });
  const engineModels = options.llm ? new Map(options.llm.engine.options.models.map((m) => [m.name, m.model])) : null;

  const clientFor = (ctx: ParameterizedContext): GatewayClient | null => {
    if (options.llm) {
      const engine = options.llm.engine;
      const expose = engine.options.exposeHeaders;
      // that middleware's tenant scope, as its `ctx.llm` applies it: tenants never share its cache's entries
      const scope = engine.cache?.scope;
      let signal: AbortSource | undefined;
      const tenant = engine.chain.tenantLimits ? engine.options.tenant : undefined;
      const call = (): CallContext => ({ signal: (signal ??= disconnectSignal(ctx)), scope: scope?.(ctx), task: layersOf(ctx).task, tenant: tenant?.(ctx) });
      return {
        // the engine's `exposeHeaders`, as `ctx.llm` follows its middleware's
        complete: (r) => (expose ? withResultHeaders(ctx, engine.complete(r, call())) : engine.complete(r, call())),
        stream: (r, started) => {
          onNextStreamStart(ctx, started);
          return engine.stream(r, withStreamStartListener(ctx, expose ? withStreamHeaders(ctx, call()) : call()));
        },
        models: engine.options.models.map((m) => m.name),
        providerModels: engineModels!,
      };
    }
    const llm = (ctx as unknown as { llm?: ParameterizedContext['llm'] }).llm;
    if (!llm) return null;
    const status = llm.status();
    return {
      complete: (r) => llm.complete(r),
      stream: (r, started) => {
        onNextStreamStart(ctx, started); // this library's `ctx.llm` tells it who answers at the first piece
        return llm.stream(r);
      },
      models: status.models.map((m) => m.name),
      providerModels: new Map(status.models.map((m) => [m.name, m.providerModel])),
    };
  };

  // the key check runs in each route's own stack: however a path is spelt, if a route answers it, it was checked
  const guard = routeGuard(async (ctx, next) => {
    if (!authorized(ctx.get('authorization'))) return answer(ctx, invalidApiKey());
    await next();
  });

  router.get('/models', guard, (ctx) => {
    const client = clientFor(ctx);
    if (!client) return answer(ctx, notMounted());
    ctx.body = modelList(client.models, options.aliases);
  });

  router.get(`${MODEL_ROUTE_BASE}/:id`, guard, (ctx) => {
    const client = clientFor(ctx);
    if (!client) return answer(ctx, notMounted());
    const id = (ctx.params as Record<string, string>).id; // percent-decoded by the router
    const model = modelById(id, client.models, options.aliases);
    if (!model) return answer(ctx, modelNotFound(id));
    ctx.body = model;
  });

  router.post('/chat/completions', guard, async (ctx) => {
    ignoreClientGone(ctx); // a client leaving while its answer is read, awaited or streamed is not an app error
    const client = clientFor(ctx);
    if (!client) return answer(ctx, notMounted());
    const request = ctx.request as { body?: unknown; rawBody?: unknown };
    const read = await readJsonObject({ parsed: request.body, raw: request.rawBody }, ctx.req, maxBody);
    if ('problem' in read) return answer(ctx, bodyProblem(read.status, read.problem));
    const done = await answerChatCompletion(client, read.body, options.aliases, () => {
      const out = openEventStream(ctx);
      return {
        write: (text) => {
          if (!out.destroyed && !out.writableEnded) out.write(text);
        },
        end: () => {
          if (!out.destroyed) out.end();
        },
      };
    });
    if (done) answer(ctx, done);
  });

  // Everything else under the prefix, last: a known path asked with another method is a 405 naming the methods it
  // takes, any other path OpenAI's 404, both after the key check (without a key, nothing tells which paths exist).
  // A route the app adds to this router later still answers its own requests. An empty prefix owns no path
  // space: the router then answers its own routes only, and leaves the app's other paths alone.
  const unmatched: Middleware = (ctx, next) => {
    type Layer = { methods: string[]; stack: unknown[] };
    const others = ((ctx as unknown as { matched?: Layer[] }).matched ?? []).filter((l) => l.methods.length > 0 && !l.stack.includes(unmatched));
    if (others.some((l) => l.methods.includes(ctx.method))) return next();
    if (others.length > 0) return answer(ctx, methodNotAllowed(ctx.method, ctx.path, allowHeader(others.flatMap((l) => l.methods))));
    answer(ctx, unknownRoute(ctx.method, ctx.path));
  };
  if (prefix !== '') catchAll(router, guard, unmatched);
  else for (const path of [...GATEWAY_ROUTES, `${MODEL_ROUTE_BASE}/:id`]) router.all(path, guard, unmatched); // 405s only

  const owns = (path: string): boolean => underPrefix(path, prefix) || matchRoute(path, prefix, GATEWAY_ROUTES) !== null || matchParamRoute(path, prefix, MODEL_ROUTE_BASE) !== null;
  const errorHandler: Middleware = async (ctx, next) => {
    if (!owns(ctx.path)) return next();
    (ctx as unknown as { disableBodyParser?: boolean }).disableBodyParser = true;
    try {
      await next();
    } catch (err) {
      const problem = bodyParserProblem(err);
      if (!problem || ctx.headerSent) throw err;
      answer(ctx, authorized(ctx.get('authorization')) ? bodyProblem(problem.status, problem.problem) : invalidApiKey());
    }
  };
  return Object.assign(router, { errorHandler });
}
