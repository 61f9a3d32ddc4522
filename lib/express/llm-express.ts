import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallContext } from '../core/complete';
import { LlmEngine } from '../engine';
import { isRequestAbortedError } from '../errors/request-aborted-error';
import { errorAnswer } from '../http/error-answer';
import { llmHeaderValues } from '../http/llm-header-values';
import { responseDisconnect } from '../http/response-disconnect';
import { openNodeEventStream, setHeaders } from '../http/node-response';
import { withStreamStartListener } from '../http/stream-start-listener';
import { type EventSink, sendStreamEvents, sseFrame } from '../http/sse-events';
import type { CacheOptions, LlmContext, LlmResilienceOptions } from '../koa/types';
import type { LlmEventListener, LlmEventName, LlmStatus, Unsubscribe } from '../types';

/** The options of `llmResilience`, with the cache's tenant `scope` reading the Express (Node) request. */
export type LlmExpressOptions = Omit<LlmResilienceOptions, 'cache' | 'tenant'> & {
  cache?: false | (Omit<CacheOptions, 'scope'> & { scope?: (req: IncomingMessage) => string });
  /** The request's tenant for `tenantLimits` (undefined or '': none). Default: the cache's `scope`. */
  tenant?: (req: IncomingMessage) => string | undefined;
};

type Next = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
/** Generic in the request, so that Express still infers the types of the handlers after it. */
type TaskHandler = <Req extends IncomingMessage, Res extends ServerResponse>(req: Req, res: Res, next: Next) => void;

/** `app.use(llm)` attaches `req.llm`; `app.use(llm.errorHandler)` (last) answers the errors routes pass on. */
export type LlmExpressMiddleware = Handler & {
  /** The framework-free engine behind the middleware. */
  readonly engine: LlmEngine;
  /**
   * An Express error handler (four arguments): answers our errors as the Koa middleware does (503 with
   * `Retry-After` when every model failed, 400/413 for a bad request) and passes anything else on.
   */
  readonly errorHandler: (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;
  /** A route's default task label, as `llmTask()` is for Koa: `app.post('/summarize', llm.task('summarize'), handler)`. */
  task(task: string): TaskHandler;
  status(): LlmStatus;
  /** Shuts down every breaker, timer, cache and client so the process can exit. Idempotent. */
  close(): Promise<void>;
  on<K extends LlmEventName>(event: K, listener: LlmEventListener<K>): Unsubscribe;
};

const TASK = Symbol('koa-llm-resilience.task');
type LlmRequest = IncomingMessage & { llm?: LlmContext; [TASK]?: string };

/**
 * The same engine for Express (or any Node `(req, res, next)` stack): `req.llm.complete()`, `.stream()`, `.sse()`
 * and `.status()` behave as `ctx.llm`'s do. A client that goes away cancels its upstream call; with
 * `exposeHeaders`, answers carry the `x-llm-*` headers. Throws `ConfigError` listing every bad option.
 */
export function llmExpress(options: LlmExpressOptions): LlmExpressMiddleware {
  const engine = new LlmEngine(options as LlmResilienceOptions);

  const middleware: Handler = (req: LlmRequest, res, next) => {
    req.llm = llmContextFor(engine, req, res);
    next();
  };

  // Four parameters: how Express tells an error handler from a middleware.
  const errorHandler = (err: unknown, _req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const answer = errorAnswer(err);
    if (!answer) return next(err);
    if (res.headersSent) {
      // a stream cancelled because its client left (as `ctx.llm`'s are answered in Koa): normal, nothing to pass on
      if (isRequestAbortedError(err)) {
        if (!res.writableEnded) res.end();
        return;
      }
      return next(err);
    }
    res.statusCode = answer.status;
    setHeaders(res, answer.headers);
    if (answer.body === null) {
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(answer.body));
  };

  return Object.assign(middleware, {
    engine,
    errorHandler,
    task(task: string): TaskHandler {
      if (typeof task !== 'string' || task.length === 0 || task.length > 100) throw new TypeError('task(task): task must be a non-empty string of at most 100 characters');
      return (req, _res, next) => {
        (req as LlmRequest)[TASK] = task;
        next();
      };
    },
    status: () => engine.status(),
    close: () => engine.close(),
    on: engine.on.bind(engine) as LlmExpressMiddleware['on'],
  });
}

/** A task label set by `llm.task()` on this request, if any. */
export function taskOf(req: IncomingMessage): string | undefined {
  return (req as LlmRequest)[TASK];
}

/**
 * What `req.llm` is for `engine`: `complete`, `stream`, `sse` and `status` with this request's call context (its
 * client's disconnect cancels the call, the cache's tenant `scope` reads the request, the route's task label),
 * and the `x-llm-*` headers on the response with `exposeHeaders`.
 */
export function llmContextFor(engine: LlmEngine, req: IncomingMessage, res: ServerResponse): LlmContext {
  const expose = engine.options.exposeHeaders;
  const scope = engine.cache?.scope as ((req: IncomingMessage) => string) | undefined;
  const tenant = engine.chain.tenantLimits ? (engine.options.tenant as ((req: IncomingMessage) => string | undefined) | undefined) : undefined;
  const callFor = (): CallContext => {
    const call: CallContext = { signal: responseDisconnect(res), scope: scope?.(req), task: taskOf(req) };
    if (tenant) call.tenant = tenant(req);
    if (expose) {
      call.onStreamStart = (s) => {
        if (!res.headersSent) setHeaders(res, llmHeaderValues(s.model, s.fallback, s.cached, s.attempts));
      };
    }
    return call;
  };
  const llm: LlmContext = {
    complete: (request) => {
      const done = engine.complete(request, callFor());
      if (!expose) return done;
      return done.then((r) => {
        if (!res.headersSent) setHeaders(res, llmHeaderValues(r.model, r.fallback, r.cached, r.attempts.length));
        return r;
      });
    },
    stream: (request) => engine.stream(request, withStreamStartListener(req, callFor())),
    sse: (request) => sendStreamEvents(llm.stream(request), () => sseSink(res)),
    status: () => engine.status(),
  };
  return llm;
}

/** Events on a `text/event-stream` answer of a Node response. */
function sseSink(res: ServerResponse): EventSink {
  const out = openNodeEventStream(res);
  return { write: (event, data) => out.write(sseFrame(event, data)), end: () => out.end() };
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Added by `llmExpress()`. */
      llm: LlmContext;
    }
  }
}
