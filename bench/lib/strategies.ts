/** Every strategy the benches compare, each behind the same Koa route shape: POST /chat { text }. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
import { createFallback } from 'ai-fallback';
import Koa from 'koa';
import OpenAI from 'openai';
import { llmResilience } from '../../lib';
import { undiciTransport } from '../../lib/providers/openai/undici-transport';
import type { LlmResilienceOptions } from '../../lib/koa/types';

export interface Answer {
  text: string;
  model: string;
}

export interface Strategy {
  name: string;
  /** Mounted before the route (our middleware). */
  middleware?: Koa.Middleware;
  call(ctx: Koa.Context, text: string): Promise<Answer>;
  close(): Promise<void>;
}

export interface StrategyConfig {
  url: string;
  primary: string;
  fallback: string;
  /** Per-attempt timeout where a strategy has one. */
  timeoutMs: number;
  /** Breaker cool-down / ai-fallback's modelResetInterval. */
  resetMs: number;
  /** bench:overhead's calibration route: rounds of fixed JS work per request (default 60). */
  workRounds?: number;
  /** A stub `fetch` for every client (bench:overhead's no-network section); default: the global one. */
  fetch?: typeof fetch;
}

const KEY = 'bench-key';
// logLevel 'off': the SDK's default level formats request details on every call (~100 µs of CPU here).
const sdk = (c: StrategyConfig, maxRetries = 0) => new OpenAI({ baseURL: c.url, apiKey: KEY, maxRetries, logLevel: 'off', ...(c.fetch ? { fetch: c.fetch } : {}) });
const messages = (text: string) => [{ role: 'user' as const, content: text }];
const noClose = async (): Promise<void> => undefined;

async function sdkCall(client: OpenAI, model: string, text: string): Promise<Answer> {
  const c = await client.chat.completions.create({ model, messages: messages(text) });
  const content = c.choices[0]?.message?.content;
  if (typeof content !== 'string' || content === '') throw new Error('empty answer');
  return { text: content, model: c.model };
}

/** The floor: the bare openai SDK, one model, no retries, logging off. */
export function bareSdk(c: StrategyConfig): Strategy {
  const client = sdk(c);
  return { name: 'bare openai SDK (maxRetries 0, logLevel off)', call: (_ctx, text) => sdkCall(client, c.primary, text), close: noClose };
}

/**
 * The bare SDK given the library's default transport (undici's `request()`, see `undiciTransport`) as its `fetch`:
 * the floor for what the library's own bookkeeping costs, once the transport is the same on both sides.
 */
export function bareSdkOnTransport(c: StrategyConfig): Strategy {
  const transport = c.fetch ? null : undiciTransport();
  const client = sdk({ ...c, fetch: c.fetch ?? transport?.fetch });
  return {
    name: "bare openai SDK on the library's transport (undici request)",
    call: (_ctx, text) => sdkCall(client, c.primary, text),
    close: async () => transport?.close(),
  };
}

/** One hard-coded endpoint (the bare SDK, as most apps start). */
export const oneEndpoint = (c: StrategyConfig): Strategy => ({ ...bareSdk(c), name: 'one endpoint' });

/** The SDK's own retry loop: 3 tries on the same model, default timeout. */
export function sdkRetry(c: StrategyConfig): Strategy {
  const client = sdk(c, 2);
  return { name: 'SDK retry loop (3 tries)', call: (_ctx, text) => sdkCall(client, c.primary, text), close: noClose };
}

/** The naive loop: try each model in turn, no timeout. */
export function sequentialFallback(c: StrategyConfig): Strategy {
  const client = sdk(c);
  return {
    name: 'sequential fallback loop, no timeout',
    async call(_ctx, text) {
      try {
        return await sdkCall(client, c.primary, text);
      } catch {
        return sdkCall(client, c.fallback, text);
      }
    },
    close: noClose,
  };
}

/** LangChain.js: ChatOpenAI (maxRetries 0, per-model timeout) with .withFallbacks(). */
export function langchain(c: StrategyConfig, withTimeout = true): Strategy {
  const mk = (model: string) =>
    new ChatOpenAI({ model, apiKey: KEY, maxRetries: 0, ...(withTimeout ? { timeout: c.timeoutMs } : {}), configuration: { baseURL: c.url, ...(c.fetch ? { fetch: c.fetch } : {}) } });
  const runnable = mk(c.primary).withFallbacks([mk(c.fallback)]);
  return {
    name: withTimeout ? `LangChain.js withFallbacks, timeout ${c.timeoutMs}` : 'LangChain.js withFallbacks',
    async call(_ctx, text) {
      const msg = await runnable.invoke(messages(text));
      return { text: String(msg.content), model: String(msg.response_metadata?.model_name ?? '') };
    },
    close: noClose,
  };
}

/** Vercel AI SDK + ai-fallback (no per-model timeout; modelResetInterval acts as a cool-down). */
export function aiSdk(c: StrategyConfig): Strategy {
  const openai = createOpenAI({ baseURL: c.url, apiKey: KEY, ...(c.fetch ? { fetch: c.fetch } : {}) });
  const model = createFallback({ models: [openai.chat(c.primary), openai.chat(c.fallback)], modelResetInterval: c.resetMs });
  return {
    name: 'AI SDK + ai-fallback',
    async call(_ctx, text) {
      const r = await generateText({ model, messages: messages(text), maxRetries: 0 });
      return { text: r.text, model: r.response.modelId };
    },
    close: noClose,
  };
}

/** This library. `extra` adds options (the incident bench's "every option on"). */
export function ours(c: StrategyConfig, name: string, extra: Partial<LlmResilienceOptions> = {}): Strategy {
  const llm = llmResilience({
    models: [
      { name: 'primary', model: c.primary, baseURL: c.url, apiKey: KEY, timeoutMs: c.timeoutMs },
      { name: 'fallback', model: c.fallback, baseURL: c.url, apiKey: KEY, timeoutMs: c.timeoutMs * 5 },
    ],
    breaker: { resetTimeoutMs: c.resetMs, rollingWindowMs: Math.max(1000, c.resetMs / 6) },
    ...(c.fetch ? { fetch: c.fetch } : {}),
    ...extra,
  });
  return {
    name,
    middleware: llm,
    async call(ctx, text) {
      const r = await ctx.llm.complete({ messages: messages(text) });
      return { text: r.text, model: r.providerModel };
    },
    close: () => llm.close(),
  };
}

function readText(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/** The Koa app every strategy is measured behind: POST /chat { text } → 200 { text, model }, or 5xx. */
export function chatApp(strategy: Strategy): Koa {
  const app = new Koa();
  app.silent = true;
  if (strategy.middleware) app.use(strategy.middleware);
  app.use(async (ctx) => {
    if (ctx.method !== 'POST' || ctx.path !== '/chat') {
      ctx.status = 404;
      return;
    }
    const body = JSON.parse(await readText(ctx.req)) as { text?: string };
    try {
      ctx.body = await strategy.call(ctx, String(body.text ?? ''));
    } catch (err) {
      if ((err as { status?: number }).status === 503 && strategy.middleware) throw err;
      ctx.status = 502;
      ctx.body = { error: 'upstream failed' };
    }
  });
  return app;
}

/** `chatApp(strategy)` on a loopback port. */
export async function serve(strategy: Strategy): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(chatApp(strategy).callback());
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await strategy.close();
    },
  };
}
