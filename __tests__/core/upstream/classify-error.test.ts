import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProviderError } from '../../../lib/core/provider/chat-provider';
import { classifyError, InvalidAnswerError } from '../../../lib/core/upstream/classify-error';
import { UpstreamAbortError, UpstreamConnectionError, UpstreamHttpError } from '../../../lib/core/upstream/upstream-errors';

const plain = { timedOut: false, callerAborted: false, timeoutMs: 100 };
const httpError = (status: number, body: { message?: string; code?: unknown; type?: unknown } = {}, headers: Record<string, string> = {}) =>
  new UpstreamHttpError(body.message ?? 'msg', { status, code: body.code, type: body.type, headers: new Headers(headers) });

describe('classifyError (provider-neutral failures)', () => {
  it('the caller aborting wins over everything and counts nothing', () => {
    expect(classifyError(new UpstreamAbortError(), { ...plain, callerAborted: true })).toMatchObject({ callerAborted: true, countsAsFailure: false, fallThrough: false });
  });
  it('our timer firing is a timeout that counts; our own cancel (a lost hedge) counts nothing', () => {
    expect(classifyError(new UpstreamAbortError(), { ...plain, timedOut: true })).toMatchObject({ outcome: 'timeout', countsAsFailure: true, fallThrough: true });
    expect(classifyError(new UpstreamAbortError(), { ...plain, cancelled: true })).toMatchObject({ outcome: 'cancelled', countsAsFailure: false, fallThrough: true });
  });
  it('429 is rate_limited with the wait the headers ask for, or the error\'s own retryAfterMs', () => {
    expect(classifyError(httpError(429, {}, { 'retry-after': '3' }), plain)).toMatchObject({ outcome: 'rate_limited', countsAsFailure: false, fallThrough: true, retryAfterMs: 3000, status: 429 });
    expect(classifyError(httpError(429, {}, { 'retry-after-ms': '250' }), plain)).toMatchObject({ retryAfterMs: 250 });
    expect(classifyError(new ProviderError('slow down', { status: 429, retryAfterMs: 700 }), plain)).toMatchObject({ outcome: 'rate_limited', retryAfterMs: 700 });
    expect(classifyError(Object.assign(new Error('x'), { status: 429, headers: new Headers({ 'retry-after': '1' }) }), plain)).toMatchObject({ retryAfterMs: 1000 });
  });
  it('400/413/422 fail fast and count nothing; a 400 about the context length falls through', () => {
    for (const status of [400, 413, 422]) expect(classifyError(httpError(status), plain)).toMatchObject({ fallThrough: false, countsAsFailure: false, status });
    expect(classifyError(httpError(400, { code: 'context_length_exceeded' }), plain)).toMatchObject({ fallThrough: true, countsAsFailure: false, message: 'context length exceeded' });
    expect(classifyError(httpError(400, { type: 'context_length_exceeded' }), plain)).toMatchObject({ fallThrough: true, message: 'context length exceeded' });
    expect(classifyError(httpError(400, { message: 'prompt is too long: 210000 tokens > 200000 maximum' }), plain)).toMatchObject({ fallThrough: true });
    expect(classifyError(new ProviderError('too long', { status: 400, code: 'context_length_exceeded' }), plain)).toMatchObject({ fallThrough: true, countsAsFailure: false });
  });
  it.each([401, 403, 404, 500, 502, 503])('%i is the model\'s failure', (status) => {
    expect(classifyError(httpError(status), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, fallThrough: true, status });
  });
  it('connection failures, aborts, bad JSON and invalid answers are failures', () => {
    expect(classifyError(new UpstreamConnectionError(), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, fallThrough: true, message: 'connection error' });
    expect(classifyError(new UpstreamConnectionError({ timedOut: true }), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'connection timed out' });
    expect(classifyError(new UpstreamAbortError(), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'request aborted' });
    expect(classifyError(new DOMException('This operation was aborted', 'AbortError'), plain)).toMatchObject({ outcome: 'error', message: 'request aborted' });
    expect(classifyError(new SyntaxError('Unexpected end'), plain)).toMatchObject({ outcome: 'error', message: 'malformed response from provider' });
    expect(classifyError(new InvalidAnswerError('no choices'), plain)).toMatchObject({ outcome: 'invalid', countsAsFailure: true });
    expect(classifyError(new Error('boom'), plain)).toMatchObject({ outcome: 'error', countsAsFailure: true, message: 'unexpected error while calling the provider' });
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
    expect(classifyError(httpError(401, { message: 'Incorrect API key provided: sk-abc123' }), plain).message).not.toContain('sk-abc123');
  });
});
