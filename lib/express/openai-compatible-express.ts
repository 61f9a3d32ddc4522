import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LlmEngine } from '../core/engine';
import { sendAnswer, openNodeEventStream } from '../http/node-response';
import { apiKeyCheck } from '../http/openai-wire/api-keys';
import { answerChatCompletion, type GatewayClient } from '../http/openai-wire/chat-completions';
import { checkGatewayOptions, GATEWAY_ROUTES, MODEL_ROUTE_BASE, ROUTE_METHODS, type OpenAIGatewayOptions } from '../http/openai-wire/gateway-options';
import { modelById, modelList } from '../http/openai-wire/model-chain';
import { bodyParserProblem, readJsonObject } from '../http/openai-wire/read-body';
import { bodyProblem, methodNotAllowed, modelNotFound, unknownRoute } from '../http/openai-wire/route-answers';
import { invalidApiKey, notMounted, openAIError } from '../http/openai-wire/wire-answer';
import { isClientGone } from '../http/response-disconnect';
import { allowHeader, matchParamRoute, matchRoute, pathOf, underPrefix } from '../http/route-path';
import { onNextStreamStart } from '../http/stream-start-listener';
import type { LlmContext } from '../koa/types';
import { llmContextFor } from './llm-express';
import { OPTION_DEFAULTS } from '../core/options/option-defaults';

/** Options of `openAICompatibleExpress()`: those of `openAICompatibleRouter()`, with `llm` an `llmExpress()` middleware. */
export interface OpenAICompatibleExpressOptions extends OpenAIGatewayOptions {
  /**
   * The `llmExpress()` middleware whose engine answers (its cache `scope` reads the Node request). Default:
   * `req.llm` (mount that middleware before the gateway).
   */
  llm?: { engine: LlmEngine };
}

type Next = (err?: unknown) => void;

/** A Node `(req, res, next)` handler: `app.use(gateway)` in Express, or any stack of that shape. */
export type OpenAICompatibleExpressHandler = (<Req extends IncomingMessage, Res extends ServerResponse>(req: Req, res: Res, next?: Next) => void) & {
  /**
   * An Express error handler (four arguments) for apps whose body parser (`express.json()`) runs before the
   * gateway: mounted after it (`app.use(gateway, gateway.errorHandler)`), it answers the parser's errors on the
   * gateway's paths in OpenAI's shape (not JSON: 400; too large: 413), after the key check, and passes anything
   * else on.
   */
  readonly errorHandler: (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;
};

/** The request's path as the app received it (Express's `originalUrl`, which keeps a mount path), for messages. */
const shownPath = (req: IncomingMessage): string => pathOf((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url);

/** What a request path is to the gateway. */
type Route =
  | { kind: 'chat' }
  | { kind: 'models' }
  | { kind: 'model'; id: string }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'unknown' };

/**
 * The OpenAI-compatible gateway for Express (or any Node `(req, res, next)` stack): `POST <prefix>/chat/completions`
 * (streaming and not), `GET <prefix>/models` and `GET <prefix>/models/{id}`, with the options, answers and key check
 * of `openAICompatibleRouter()`. It routes by itself, as @koa/router and Express do by default (letter case
 * ignored, one trailing `/` allowed, under whatever path the app mounts it at), and checks the key first for every
 * path under its prefix: a known path asked with another method is a 405 with `Allow`, any other path there
 * OpenAI's 404, as the Koa router answers. Paths outside the prefix (with an empty prefix: every path but its own
 * routes) go to `next()` untouched. Express itself is never loaded: the handler only uses Node's `http`. Throws
 * `ConfigError` listing every bad option.
 */
export function openAICompatibleExpress(options: OpenAICompatibleExpressOptions): OpenAICompatibleExpressHandler {
  checkGatewayOptions(options);
  const authorized = apiKeyCheck(options.apiKeys);
  const maxBody = options.maxBodyBytes ?? OPTION_DEFAULTS.gateway.maxBodyBytes;
  const prefix = options.prefix ?? OPTION_DEFAULTS.gateway.prefix;
  const engineModels = options.llm ? new Map(options.llm.engine.options.models.map((m) => [m.name, m.model])) : null;

  const clientFor = (req: IncomingMessage, res: ServerResponse): GatewayClient | null => {
    const engine = options.llm?.engine;
    const llm = engine ? llmContextFor(engine, req, res) : (req as IncomingMessage & { llm?: LlmContext }).llm;
    if (!llm) return null;
    const status = engine ? null : llm.status();
    return {
      complete: (r) => llm.complete(r),
      stream: (r, started) => {
        onNextStreamStart(req, started); // this library's `req.llm` tells it who answers at the first piece
        return llm.stream(r);
      },
      models: engine ? engine.options.models.map((m) => m.name) : status!.models.map((m) => m.name),
      providerModels: engineModels ?? new Map(status!.models.map((m) => [m.name, m.providerModel])),
    };
  };

  /** The route a path and method name, or null when the path is not the gateway's. */
  const routeOf = (path: string, method: string): Route | null => {
    const known = matchRoute(path, prefix, GATEWAY_ROUTES);
    const id = known ? null : matchParamRoute(path, prefix, MODEL_ROUTE_BASE);
    const pattern = known ?? (id !== null ? '/models/{id}' : null);
    if (pattern === null) return underPrefix(path, prefix) ? { kind: 'unknown' } : null;
    const methods: readonly string[] = ROUTE_METHODS[pattern];
    if (!methods.includes(method)) return { kind: 'method-not-allowed', allow: allowHeader(methods) };
    if (known === '/chat/completions') return { kind: 'chat' };
    return id === null ? { kind: 'models' } : { kind: 'model', id };
  };

  const chat = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const client = clientFor(req, res);
    if (!client) return sendAnswer(res, notMounted());
    const request = req as IncomingMessage & { body?: unknown; rawBody?: unknown };
    const read = await readJsonObject({ parsed: request.body, raw: request.rawBody }, req, maxBody);
    if ('problem' in read) return sendAnswer(res, bodyProblem(read.status, read.problem));
    const done = await answerChatCompletion(client, read.body, options.aliases, () => openNodeEventStream(res));
    if (done) sendAnswer(res, done);
  };

  const handler = (req: IncomingMessage, res: ServerResponse, next?: Next): void => {
    const method = req.method ?? 'GET';
    const route = routeOf(pathOf(req.url), method);
    if (route === null) {
      if (next) return next();
      return sendAnswer(res, unknownRoute(method, shownPath(req)));
    }
    // the route is decided, and checked, here: every spelling under the prefix has been through the key check
    if (!authorized(req.headers.authorization)) return sendAnswer(res, invalidApiKey());
    if (route.kind === 'unknown') return sendAnswer(res, unknownRoute(method, shownPath(req)));
    if (route.kind === 'method-not-allowed') return sendAnswer(res, methodNotAllowed(method, shownPath(req), route.allow));
    if (route.kind === 'models' || route.kind === 'model') {
      const client = clientFor(req, res);
      if (!client) return sendAnswer(res, notMounted());
      if (route.kind === 'models') return sendAnswer(res, { status: 200, body: modelList(client.models, options.aliases) });
      const model = modelById(route.id, client.models, options.aliases);
      return sendAnswer(res, model ? { status: 200, body: model } : modelNotFound(route.id));
    }
    chat(req, res).catch((err: unknown) => {
      // a client that left while its body was read or its answer awaited is normal, not an app error
      if (isClientGone(err, res)) {
        if (!res.writableEnded) res.end();
        return;
      }
      if (next) return next(err);
      sendAnswer(res, openAIError(500, 'The server had an error while processing your request.', 'server_error', null));
    });
  };

  const errorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const problem = bodyParserProblem(err);
    if (!problem || res.headersSent || routeOf(pathOf(req.url), req.method ?? 'GET') === null) return next(err);
    sendAnswer(res, authorized(req.headers.authorization) ? bodyProblem(problem.status, problem.problem) : invalidApiKey());
  };

  return Object.assign(handler, { errorHandler }) as OpenAICompatibleExpressHandler;
}
