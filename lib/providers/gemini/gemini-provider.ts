import type { GoogleGenAI } from '@google/genai';
import type { ChatProvider, ProviderAnswer, ProviderCall, ProviderStreamPart } from '../../core/provider/chat-provider';
import { geminiAnswer } from './gemini-answer';
import { geminiFailure } from './gemini-errors';
import { geminiParams } from './gemini-request';
import { geminiSdk } from './gemini-sdk';
import { ThoughtSignatures } from './gemini-signatures';
import { geminiStream } from './gemini-stream';

export interface GeminiProviderOptions {
  /** The Gemini API key. Default: `GEMINI_API_KEY`, else `GOOGLE_API_KEY`; one of the three is required. */
  apiKey?: string;
  /** The API's root (the SDK adds `/v1beta/models/…`), e.g. a proxy's. Default: `https://generativelanguage.googleapis.com`. */
  baseURL?: string;
  /** The `fetch` every request goes through (a proxy agent, a test's). Default: the platform's. */
  fetch?: typeof globalThis.fetch;
  /** Extra HTTP headers sent with every request (a gateway's, say). */
  headers?: Record<string, string>;
  /** What the provider calls itself in its errors. Default: `'gemini'`. */
  name?: string;
}

/** A `ChatProvider` with the name it was given. */
export interface GeminiProvider extends ChatProvider {
  readonly name: string;
  stream(call: ProviderCall): AsyncIterable<ProviderStreamPart>;
}

/**
 * Gemini models through the Gemini API and the official `@google/genai` SDK (an optional peer dependency, loaded
 * here). One SDK client for the provider, made now, without retries: each call is exactly one HTTP request,
 * bounded by the call's signal (the library decides timeouts, retries and fallbacks). Messages, tools and
 * parameters are mapped from the library's OpenAI-shaped call (see `geminiParams`), answers back to its shape (see
 * `geminiAnswer`, `geminiStream`), errors to `ProviderError`s (see `geminiFailure`).
 *
 * @example
 * createEngine({ models: [{ name: 'flash', model: 'gemini-2.5-flash', provider: geminiProvider() }, { name: 'gpt', model: 'gpt-4o-mini' }] })
 */
export function geminiProvider(options: GeminiProviderOptions = {}): GeminiProvider {
  const name = options.name ?? 'gemini';
  const apiKey = [options.apiKey, process.env.GEMINI_API_KEY, process.env.GOOGLE_API_KEY].find((k) => typeof k === 'string' && k !== '');
  if (apiKey === undefined) throw new Error(`geminiProvider (${name}): an API key is required: pass { apiKey } or set GEMINI_API_KEY (or GOOGLE_API_KEY)`);
  const client: GoogleGenAI = new (geminiSdk().GoogleGenAI)({
    apiKey,
    // the Gemini API, even when the environment asks the SDK for Vertex AI (GOOGLE_GENAI_USE_VERTEXAI)
    vertexai: false,
    httpOptions: {
      ...(options.baseURL !== undefined ? { baseUrl: options.baseURL } : {}),
      // Always a fetch of our own: without one the SDK hands the platform's fetch a dispatcher it finds on the
      // global object, which is not there in another realm (a vm context, a test runner's sandbox): every call
      // then fails with "fetch failed". The platform's fetch (looked up per call, so a proxy set with
      // setGlobalDispatcher() is used) keeps undici's own 300 s header and body limits, far beyond any attempt's
      // timeout, which bounds each call through its signal.
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      ...(options.headers !== undefined ? { headers: options.headers } : {}),
      // No `retryOptions`: without them the SDK (2.32) makes exactly one request per call, with no retry layer at
      // all. `{ attempts: 1 }` would also make one, but through p-retry, which rewraps an error made in another
      // realm ("Non-error was thrown"), losing a connection failure's cause and an abort's name.
    },
  });
  const signatures = new ThoughtSignatures();
  return {
    name,
    // Gemini's tokenizer counts about as o200k_base on English, more on code and other scripts: 1.2 with a margin
    promptTokenScale: 1.2,
    async complete(call: ProviderCall): Promise<ProviderAnswer> {
      const params = geminiParams(call, signatures);
      let res;
      try {
        res = await client.models.generateContent(params);
      } catch (err) {
        throw geminiFailure(err);
      }
      return geminiAnswer(res, call, signatures);
    },
    stream(call: ProviderCall): AsyncIterable<ProviderStreamPart> {
      return geminiStream(client, call, signatures);
    },
  };
}
