/** The no-network pieces of bench:overhead: a stub `fetch` that answers at once, and in-memory Koa requests. */
import http from 'node:http';
import net from 'node:net';

const stubBody = JSON.stringify({
  id: 'chatcmpl-stub',
  object: 'chat.completion',
  created: 0,
  model: 'primary',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 },
});

/** A chat completion, at once, for any request. */
export const stubFetch = (async () => new Response(stubBody, { headers: { 'content-type': 'application/json' } })) as typeof fetch;
export const STUB_URL = 'http://stub.invalid/v1';

const chatBody = JSON.stringify({ text: 'hello' });

/** One POST /chat through a Koa callback with an in-memory request and response (no socket, no parser). */
export async function inMemoryRequest(handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<void> {
  const req = new http.IncomingMessage(new net.Socket());
  req.method = 'POST';
  req.url = '/chat';
  req.headers = { 'content-type': 'application/json', 'content-length': String(chatBody.length) };
  req.push(chatBody);
  req.push(null);
  const res = new http.ServerResponse(req);
  await handle(req, res);
  if (res.statusCode !== 200) throw new Error(`route answered ${res.statusCode}`);
}
