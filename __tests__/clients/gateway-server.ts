/**
 * The OpenAI-compatible gateway served over real HTTP on loopback (Koa or Express), with a chain of two models on
 * the fake provider: `smart` (model id `big`) first, then `fast` (model id `small`). Clients are pointed at `url`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { llmExpress, llmResilience, openAICompatibleExpress, openAICompatibleRouter } from '../../lib';
import type { LlmResilienceOptions } from '../../lib/koa/types';
import type { FakeLlm } from '../../lib/testing';

export const GATEWAY_KEY = 'gateway-key-0123456789';

export interface Gateway {
  /** Base URL for an OpenAI-compatible client, ending in `/v1`. */
  url: string;
  close(): Promise<void>;
}

export async function startGateway(fake: FakeLlm, adapter: 'koa' | 'express' = 'koa'): Promise<Gateway> {
  const options: LlmResilienceOptions = {
    models: [
      { name: 'smart', model: 'big', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
      { name: 'fast', model: 'small', baseURL: fake.url, apiKey: 'k', timeoutMs: 5000 },
    ],
    // a cached answer would hide the requests the fake is expected to receive
    cache: false,
  };
  let handler: http.RequestListener;
  let closeLlm: () => Promise<void>;
  if (adapter === 'koa') {
    const llm = llmResilience(options);
    const app = new Koa();
    app.silent = true;
    app.use(llm).use(openAICompatibleRouter({ apiKeys: [GATEWAY_KEY] }).routes());
    handler = app.callback();
    closeLlm = () => llm.close();
  } else {
    const llm = llmExpress(options as Parameters<typeof llmExpress>[0]);
    const app = express();
    app.use(llm, openAICompatibleExpress({ apiKeys: [GATEWAY_KEY] }));
    handler = app;
    closeLlm = () => llm.close();
  }
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeLlm();
    },
  };
}
