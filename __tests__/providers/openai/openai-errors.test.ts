import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { type AbortContext, classifyError as classifyNeutral, InvalidAnswerError } from '../../../lib/core/upstream/classify-error';
import { UpstreamAbortError, UpstreamConnectionError, UpstreamHttpError } from '../../../lib/core/upstream/upstream-errors';
import { openaiFailure } from '../../../lib/providers/openai/openai-errors';

/** What the core makes of what the SDK threw, once the OpenAI provider has mapped it. */
const classifyError = (err: unknown, ctx: AbortContext) => classifyNeutral(openaiFailure(err), ctx);

const plain = { timedOut: false, callerAborted: false, timeoutMs: 100 };
const apiError = (status: number, body?: Record<string, unknown>, headers: Record<string, string> = {}) =>
  APIError.generate(status, body ? { error: body } : undefined, 'msg', new Headers(headers));

describe('openaiFailure', () => {
  it('maps the SDK\'s errors to neutral ones, keeping status, headers, code, type and the cause', () => {
    const err = APIError.generate(429, { error: { code: 'rate_limit_exceeded', type: 'requests', message: 'slow down' } }, 'msg', new Headers({ 'retry-after': '2' }));
    const mapped = openaiFailure(err) as UpstreamHttpError;
    expect(mapped).toBeInstanceOf(UpstreamHttpError);
    expect(mapped).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests', cause: err });
    expect(mapped.headers?.get('retry-after')).toBe('2');
    expect(openaiFailure(new APIConnectionError({ message: 'reset' }))).toBeInstanceOf(UpstreamConnectionError);
    expect(openaiFailure(new APIConnectionTimeoutError())).toMatchObject({ timedOut: true });
    expect(openaiFailure(new APIUserAbortError())).toBeInstanceOf(UpstreamAbortError);
  });
  it('passes anything else on as it is', () => {
    const others = [new SyntaxError('Unexpected end'), new InvalidAnswerError('no choices'), new TypeError('terminated'), 'text', null];
    for (const e of others) expect(openaiFailure(e)).toBe(e);
  });
});

describe('classifyError of the SDK\'s errors', () => {
  it('the caller aborting wins over everything and counts nothing', () => {
    const c = classifyError(new APIUserAbortError(), { ...plain, callerAborted: true });
    expect(c).toMatchObject({ callerAborted: true, countsAsFailure: false, fallThrough: false });
  });
  it('our timer firing is a timeout that counts', () => {
    expect(classifyError(new APIUserAbortError(), { ...plain, timedOut: true })).toMatchObject({ outcome: 'timeout', countsAsFailure: true, fallThrough: true });
  });
  it('429 is rate_limited with the provider\'s wait, not a breaker failure', () => {
    expect(classifyError(apiError(429, {}, { 'retry-after': '3' }), plain)).toMatchObject({ outcome: 'rate_limited', countsAsFailure: false, fallThrough: true, retryAfterMs: 3000, status: 429 });
  });
  it('400/422 fail fast and count nothing; context length falls through', () => {
    expect(classifyError(apiError(400, { message: 'bad' }), plain)).toMatchObject({ fallThrough: false, countsAsFailure: false, status: 400 });
    expect(classifyError(apiError(422, {}), plain)).toMatchObject({ fallThrough: false, countsAsFailure: false });
    expect(classifyError(apiError(400, { code: 'context_length_exceeded' }), plain)).toMatchObject({ fallThrough: true, countsAsFailure: false });
  });
  it.each([
    ['OpenAI', { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", code: 'context_length_exceeded' }],
    ['vLLM (no code)', { message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", type: 'BadRequestError', code: 400 }],
    ['Anthropic-compatible', { message: 'prompt is too long: 210000 tokens > 200000 maximum', type: 'invalid_request_error' }],
    ['Gemini-compatible', { message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).' }],
    ['Bedrock', { message: 'Input is too long for requested model.' }],
    ['a type only', { message: 'bad request', type: 'context_length_exceeded' }],
  ])('a 400 saying the prompt does not fit (%s) falls through without counting', (_who, body) => {
    const c = classifyError(apiError(400, body), plain);
    expect(c).toMatchObject({ fallThrough: true, countsAsFailure: false, message: 'context length exceeded', status: 400 });
  });
  it.each([
    { message: "Invalid value for 'temperature': 3 is greater than the maximum of 2" },
    { message: 'max_tokens is too large: 5000. This model supports at most 4096 completion tokens' },
    {},
  ])('a 400 about anything else still fails fast (%j)', (body) => {
    expect(classifyError(apiError(400, body), plain)).toMatchObject({ fallThrough: false, countsAsFailure: false });
  });
  it('a 413 or 422 that mentions the context is still the caller\'s fault', () => {
    expect(classifyError(apiError(422, { message: 'maximum context length exceeded' }), plain)).toMatchObject({ fallThrough: false });
  });
  it.each([401, 403, 404, 500, 502, 503])('%i is the model\'s failure', (status) => {
    expect(classifyError(apiError(status, {}), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, fallThrough: true, status });
  });
  it('connection errors, bad JSON and invalid answers are failures', () => {
    expect(classifyError(new APIConnectionError({ message: 'reset' }), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'connection error' });
    expect(classifyError(new APIConnectionTimeoutError(), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'connection timed out' });
    expect(classifyError(new APIUserAbortError(), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, fallThrough: true, message: 'request aborted' });
    expect(classifyError(new SyntaxError('Unexpected end'), plain)).toMatchObject({ outcome: 'error', message: 'malformed response from provider' });
    expect(classifyError(new InvalidAnswerError('no choices'), plain)).toMatchObject({ outcome: 'invalid', countsAsFailure: true });
  });
  it('a body cut by the connection closing (undici\'s own error, from a real loopback server) is named so', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"choices":');
      setTimeout(() => res.socket?.destroy(), 10);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const err = await res.text().then(() => null, (e: unknown) => e);
      expect(classifyError(err, plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, fallThrough: true, message: 'connection closed before the answer was complete' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
  it('never copies the provider\'s message (it may echo keys)', () => {
    const c = classifyError(apiError(401, { message: 'Incorrect API key provided: sk-abc123' }), plain);
    expect(c.message).not.toContain('sk-abc123');
  });
});
