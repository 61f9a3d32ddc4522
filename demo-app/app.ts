import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardRouter, llmTask, type LlmResilienceMiddleware, metricsMiddleware, openAICompatibleRouter } from '../lib';

const PAGE = readFileSync(path.join(__dirname, 'page.html'), 'utf8');

export interface DemoOptions {
  /** Bearer token of the OpenAI-compatible endpoint at /v1. Default: DEMO_API_TOKEN, else 'demo-token-change-me'. */
  apiToken?: string;
  /** Token of /dashboard (`?token=`). Default: DEMO_DASHBOARD_TOKEN, else none (open, as a local demo). */
  dashboardToken?: string;
}

/** Turns any error into JSON: exposed errors keep their message, others become their status text. */
async function jsonErrors(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const e = err as { status?: number; expose?: boolean; message?: string };
    const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
    ctx.status = status;
    if (err instanceof SyntaxError && status === 400) {
      ctx.body = { error: { type: 'invalid_request', message: `request body is not valid JSON (${e.message})` } };
    } else {
      ctx.body = { error: { message: e.expose ? e.message : status < 500 ? 'Bad Request' : 'Internal Server Error' } };
      if (status >= 500) ctx.app.emit('error', err, ctx);
    }
  }
}

function badRequest(ctx: Koa.Context, message: string): void {
  ctx.status = 400;
  ctx.body = { error: { type: 'invalid_request', message } };
}

/** The demo's routes: POST /summarize, POST /chat, POST /chat/stream, GET / (a page), GET /health, and /v1 (OpenAI-compatible). */
export function createDemoApp(llm: LlmResilienceMiddleware, options: DemoOptions = {}): Koa {
  const app = new Koa();
  const router = new Router();

  router.post('/summarize', llmTask('summarize'), async (ctx) => {
    const text = (ctx.request.body as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string' || text.trim() === '') return badRequest(ctx, 'body must be JSON { "text": "<non-empty string>" }');
    const r = await ctx.llm.complete({
      messages: [
        { role: 'system', content: 'Summarize the user text in two sentences.' },
        { role: 'user', content: text },
      ],
      maxTokens: 200,
      temperature: 0,
    });
    ctx.body = { summary: r.text, model: r.model, cached: r.cached, fallback: r.fallback, latencyMs: r.latencyMs, attempts: r.attempts };
  });

  router.post('/chat', llmTask('chat'), async (ctx) => {
    const messages = (ctx.request.body as { messages?: unknown } | undefined)?.messages;
    if (!Array.isArray(messages)) return badRequest(ctx, 'body must be JSON { "messages": [{ "role": "user", "content": "..." }] }');
    // ctx.llm validates each message and answers 400 with details when one is malformed.
    const r = await ctx.llm.complete({ messages, maxTokens: 500 });
    ctx.body = { reply: r.text, model: r.model, cached: r.cached, fallback: r.fallback, latencyMs: r.latencyMs, attempts: r.attempts };
  });

  router.post('/chat/stream', llmTask('chat'), async (ctx) => {
    const messages = (ctx.request.body as { messages?: unknown } | undefined)?.messages;
    if (!Array.isArray(messages)) return badRequest(ctx, 'body must be JSON { "messages": [{ "role": "user", "content": "..." }] }');
    await ctx.llm.sse({ messages, maxTokens: 500 });
  });

  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = PAGE;
  });

  router.get('/health', (ctx) => {
    ctx.body = llm.status();
  });

  app.use(jsonErrors);
  // Prometheus metrics at /metrics (a registry of this app's own)
  app.use(metricsMiddleware(llm, { registry: new Registry() }));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '1mb' }));
  app.use(llm);
  app.use(router.routes());
  app.use(router.allowedMethods());
  // Any OpenAI client can use the chain: baseURL http://host/v1, apiKey = the demo token, model 'default'.
  const openai = openAICompatibleRouter({ apiKeys: [options.apiToken ?? process.env.DEMO_API_TOKEN ?? 'demo-token-change-me'], aliases: { cheap: [llm.status().models.at(-1)?.name ?? 'fast'] } });
  app.use(openai.routes());
  app.use(openai.allowedMethods());
  const token = options.dashboardToken ?? process.env.DEMO_DASHBOARD_TOKEN;
  const dashboard = dashboardRouter({ llm, ...(token ? { auth: { token } } : {}) });
  app.use(dashboard.routes());
  return app;
}
