import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeBehavior, FakeMode, FakeRequestRecord, FakeScript } from './fake-llm-server';

/** One request the fake server is answering: its record, the behaviour and mode picked for it. */
export interface FakeExchange {
  readonly record: FakeRequestRecord;
  readonly res: ServerResponse;
  readonly behavior: FakeBehavior;
  readonly mode: FakeMode;
  /** A number unique to this request (for ids). */
  readonly id: number;
  /** Runs `fn` after `ms` (default: the behaviour's latency plus jitter); a timer `close()` clears. */
  later(fn: () => void, ms?: number): void;
}

/** What a wire format gets from the fake server: the same behaviours, records and answers as the OpenAI one. */
export interface FakeDialectContext {
  /** The key the server was started with (each wire format checks it its own way), if any. */
  readonly apiKey: string | undefined;
  /** Records a request for `model` and picks its mode (`record.state` follows the response). */
  begin(model: string, body: Record<string, unknown>, res: ServerResponse): FakeExchange;
  /** The scripted answer, given the request as an OpenAI-shaped body (`{ messages: [{ role, content }] }`). */
  script(behavior: FakeBehavior, model: string, openaiShaped: Record<string, unknown>, mode?: FakeMode): FakeScript;
  readBody(req: IncomingMessage): Promise<string>;
  sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
}

/** A wire format the fake server speaks besides OpenAI's (Anthropic's Messages API, the Gemini API). */
export interface FakeDialect {
  /** Whether this request is this wire format's. */
  owns(method: string, path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, ctx: FakeDialectContext): Promise<void>;
}
