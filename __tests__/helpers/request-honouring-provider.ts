import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible provider that does what each request asks, as real ones do (the project's fake answers
 * the same text whatever `max_tokens` says): it stops after `max_tokens` (or `max_completion_tokens`) words with
 * `finish_reason: 'length'`, ends the text before the first `stop` sequence, and withholds the answer
 * (`finish_reason: 'content_filter'`, no content) when the last user message contains `FORBIDDEN`. A user
 * message `echo:<text>` is answered with `<text>`; any other with `<model> answer: <message>`. Streams too.
 * `setFailing(model, true)` makes a model answer 500s.
 */
export interface HonouringProvider {
  url: string;
  /** Chat completion requests received, per provider model id. */
  calls(model: string): number;
  setFailing(model: string, failing: boolean): void;
  /** Delays a model's answers: `ms`, plus `perTokenMs` for each word of the answer (a longer answer takes longer). */
  setLatency(model: string, ms: number, perTokenMs?: number): void;
  close(): Promise<void>;
}

interface ChatBody {
  model?: string;
  messages?: { role: string; content?: unknown }[];
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  stream?: boolean;
}

export async function startHonouringProvider(): Promise<HonouringProvider> {
  const calls = new Map<string, number>();
  const failing = new Set<string>();
  const latency = new Map<string, { ms: number; perTokenMs: number }>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as ChatBody;
      const model = body.model ?? '';
      calls.set(model, (calls.get(model) ?? 0) + 1);
      const l = latency.get(model);
      const ms = l ? l.ms + l.perTokenMs * words(answerFor(model, body).text).length : 0;
      if (ms <= 0) return answer(res, model, body);
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer(res, model, body);
      }, ms);
      timers.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    });
  });
  function answer(res: http.ServerResponse, model: string, body: ChatBody): void {
    if (res.destroyed) return;
    if (failing.has(model)) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'failing (simulated)', type: 'server_error', code: null } }));
      return;
    }
    const { text, finish } = answerFor(model, body);
    if (body.stream === true) return stream(res, model, text, finish);
    const completionTokens = words(text).length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-honouring',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: finish === 'content_filter' ? null : text, refusal: null }, finish_reason: finish, logprobs: null }],
        usage: { prompt_tokens: 5, completion_tokens: completionTokens, total_tokens: 5 + completionTokens },
      }),
    );
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    calls: (model) => calls.get(model) ?? 0,
    setFailing: (model, on) => void (on ? failing.add(model) : failing.delete(model)),
    setLatency: (model, ms, perTokenMs = 0) => void latency.set(model, { ms, perTokenMs }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function words(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function answerFor(model: string, body: ChatBody): { text: string; finish: 'stop' | 'length' | 'content_filter' } {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  const said = typeof last?.content === 'string' ? last.content : '';
  if (said.includes('FORBIDDEN')) return { text: '', finish: 'content_filter' };
  let text = said.startsWith('echo:') ? said.slice(5) : `${model} answer: ${said}`;
  const stops = body.stop === undefined ? [] : Array.isArray(body.stop) ? body.stop : [body.stop];
  for (const s of stops) {
    const at = s === '' ? -1 : text.indexOf(s);
    if (at >= 0) text = text.slice(0, at);
  }
  const limit = body.max_completion_tokens ?? body.max_tokens;
  const pieces = words(text);
  if (limit !== undefined && pieces.length > limit) return { text: pieces.slice(0, limit).join(''), finish: 'length' };
  return { text, finish: 'stop' };
}

function stream(res: http.ServerResponse, model: string, text: string, finish: string): void {
  const chunk = (delta: Record<string, unknown>, finishReason: string | null): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-honouring', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const piece of words(text)) res.write(chunk({ content: piece }, null));
  res.write(chunk({}, finish));
  const n = words(text).length;
  res.write(`data: ${JSON.stringify({ id: 'chatcmpl-honouring', object: 'chat.completion.chunk', created: 0, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: n, total_tokens: 5 + n } })}\n\n`);
  res.write('data: [DONE]\n\n');
  res.end();
}
