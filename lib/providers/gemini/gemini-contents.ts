import type { Content, Part } from '@google/genai';
import { ProviderError, type ProviderMessage } from '../../core/provider/chat-provider';
import type { ThoughtSignatures } from './gemini-signatures';

/** The conversation as the Gemini API takes it: the system text apart, then `user` and `model` turns. */
export interface GeminiContents {
  contents: Content[];
  systemInstruction?: Content;
}

/**
 * The thought signature the Gemini API accepts on a function call it did not make itself (one of another provider,
 * or of a Gemini answer whose signature was not kept, see `ThoughtSignatures`): Gemini 3 models refuse (400) a
 * replayed function call without a signature.
 */
export const FOREIGN_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/**
 * OpenAI-shaped messages as Gemini contents:
 * - `system` and `developer` messages: `systemInstruction` (Gemini has no system turn, wherever they stand);
 * - `user` → `user`, `assistant` → `model`; consecutive turns of one role are merged (Gemini wants them alternating);
 * - images: a `data:` URL → `inlineData`, an http(s) URL → `fileData` (its media type guessed from the extension);
 *   audio (`input_audio`) and `file` parts with `file_data` → `inlineData`;
 * - an assistant's `tool_calls` → `functionCall` parts (arguments parsed, id kept), each `tool` message → a
 *   `functionResponse` part of a user turn, named after the call it answers; a replayed call carries the thought
 *   signature Gemini gave it when `signatures` still has it, else the placeholder Gemini accepts.
 * What Gemini cannot take (a `file_id`, an image URL of unknown type, a tool result for no known call) is refused
 * with a 400 `ProviderError` (`code: 'unsupported_content'`) before any request is made: sending it anyway would
 * lose part of the conversation without a word.
 */
export function geminiContents(messages: readonly ProviderMessage[], signatures?: ThoughtSignatures): GeminiContents {
  const system: Part[] = [];
  const contents: Content[] = [];
  /** Tool call id → function name, from the assistant messages so far (a `tool` message carries only the id). */
  const callNames = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: Part[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last?.role === role) (last.parts as Part[]).push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m, index) => {
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content, index);
        if (text !== '') system.push({ text });
        return;
      }
      case 'user':
        return push('user', userParts(m.content, index));
      case 'assistant':
        return push('model', assistantParts(m, index, callNames, signatures));
      case 'tool': {
        const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : '';
        const name = callNames.get(id);
        if (name === undefined) throw unsupported(`messages[${index}] answers tool call "${id}", which no earlier assistant message made`);
        return push('user', [{ functionResponse: { id, name, response: toolResponse(textOf(m.content, index)) } }]);
      }
      case 'function': {
        // OpenAI's deprecated function messages: named, without an id
        if (typeof m.name !== 'string' || m.name === '') throw unsupported(`messages[${index}] is a function message without a name`);
        return push('user', [{ functionResponse: { name: m.name, response: toolResponse(textOf(m.content, index)) } }]);
      }
      default:
        throw unsupported(`messages[${index}] has a role Gemini does not take (${String((m as { role?: unknown }).role)})`);
    }
  });
  const out: GeminiContents = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };
  return out;
}

/** A user message's parts: text, images, audio and files. */
function userParts(content: ProviderMessage['content'], index: number): Part[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return content.map((p, i): Part => {
    const where = `messages[${index}].content[${i}]`;
    switch (p.type) {
      case 'text':
        return { text: String(p.text ?? '') };
      case 'image_url': {
        const url = (p.image_url as { url?: unknown } | undefined)?.url;
        if (typeof url !== 'string') throw unsupported(`${where} is an image without a url`);
        return mediaPart(url, where);
      }
      case 'input_audio': {
        const audio = p.input_audio as { data?: unknown; format?: unknown } | undefined;
        if (typeof audio?.data !== 'string' || typeof audio.format !== 'string') throw unsupported(`${where} is audio without data or format`);
        return { inlineData: { mimeType: `audio/${audio.format}`, data: audio.data } };
      }
      case 'file': {
        const file = p.file as { file_data?: unknown; file_id?: unknown } | undefined;
        if (typeof file?.file_data === 'string') return mediaPart(file.file_data, where);
        // an OpenAI file id means nothing to Gemini
        throw unsupported(`${where} is a file given by id; Gemini takes files as data: URLs only`);
      }
      default:
        throw unsupported(`${where} is a "${p.type}" part, which Gemini does not take`);
    }
  });
}

/** An assistant message's parts: its text (a refusal it wrote included), then its tool calls as function calls. */
function assistantParts(m: ProviderMessage, index: number, callNames: Map<string, string>, signatures: ThoughtSignatures | undefined): Part[] {
  const parts: Part[] = [];
  const text = assistantText(m.content);
  if (text !== '') parts.push({ text });
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) : [];
  calls.forEach((c, i) => {
    const name = c.function?.name;
    if (c.type !== 'function' || typeof name !== 'string') throw unsupported(`messages[${index}].tool_calls[${i}] is not a function call`);
    const id = typeof c.id === 'string' ? c.id : undefined;
    if (id !== undefined) callNames.set(id, name);
    parts.push(functionCallPart(name, c.function?.arguments, id, `messages[${index}].tool_calls[${i}]`, signatures?.get(id)));
  });
  const legacy = m.function_call as { name?: unknown; arguments?: unknown } | null | undefined;
  if (legacy && typeof legacy.name === 'string') parts.push(functionCallPart(legacy.name, legacy.arguments, undefined, `messages[${index}].function_call`, undefined));
  return parts;
}

function functionCallPart(name: string, args: unknown, id: string | undefined, where: string, signature: string | undefined): Part {
  const parsed = typeof args === 'string' && args.trim() !== '' ? parseJson(args) : {};
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw unsupported(`${where} has arguments that are not a JSON object`);
  const functionCall: Part['functionCall'] = { name, args: parsed as Record<string, unknown> };
  if (id !== undefined) functionCall.id = id;
  return { functionCall, thoughtSignature: signature ?? FOREIGN_THOUGHT_SIGNATURE };
}

/** A tool's result as Gemini's `response` object: the result's JSON when it is an object, else `{ result: text }`. */
function toolResponse(text: string): Record<string, unknown> {
  const parsed = parseJson(text);
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { result: text };
}

/** A `data:` URL as inline data, an http(s) URL as file data (with the media type its extension says). */
function mediaPart(url: string, where: string): Part {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const meta = comma < 0 ? '' : url.slice(5, comma);
    const mimeType = meta.split(';')[0];
    if (comma < 0 || mimeType === '') throw unsupported(`${where} is a data: URL without a media type`);
    const payload = url.slice(comma + 1);
    const data = meta.split(';').includes('base64') ? payload : Buffer.from(decodeURIComponent(payload), 'utf8').toString('base64');
    return { inlineData: { mimeType, data } };
  }
  if (/^https?:\/\//i.test(url)) {
    const mimeType = mimeTypeOf(url);
    if (mimeType === undefined) throw unsupported(`${where}: the media type of ${url.slice(0, 100)} cannot be told from its extension; send it as a data: URL`);
    return { fileData: { fileUri: url, mimeType } };
  }
  throw unsupported(`${where} has a URL Gemini cannot fetch (only data: and http(s) URLs)`);
}

const MIME_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
};

/** The media type an http(s) URL's extension says (query and fragment left out). */
export function mimeTypeOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return ext === undefined ? undefined : MIME_TYPES[ext];
}

/** A system, developer or tool message's text: its string, or its text parts joined. */
function textOf(content: ProviderMessage['content'], index: number): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((p, i) => {
      if (p.type !== 'text') throw unsupported(`messages[${index}].content[${i}] is a "${p.type}" part where only text is taken`);
      return String(p.text ?? '');
    })
    .join('');
}

/** An assistant message's text: text and refusal parts alike (a refusal is what the model said). */
function assistantText(content: ProviderMessage['content']): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? String(p.text ?? '') : p.type === 'refusal' ? String(p.refusal ?? '') : '')).join('');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function unsupported(message: string): ProviderError {
  return new ProviderError(`Gemini: ${message}`, { status: 400, code: 'unsupported_content' });
}
