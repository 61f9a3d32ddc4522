import type Anthropic from '@anthropic-ai/sdk';
import type { ProviderCall, ProviderContentPart, ProviderMessage, ProviderTool } from '../../core/provider/chat-provider';
import { unsupportedContent } from './anthropic-errors';
import { anthropicSchemaTransform } from './anthropic-sdk';
import { anthropicToolId } from './anthropic-tool-ids';

/** How the provider builds its requests (from `AnthropicProviderOptions`). */
export interface AnthropicRequestSettings {
  /** `max_tokens` when the call gives none (Anthropic requires one). */
  defaultMaxTokens: number;
  /** How a JSON schema is asked for: Anthropic's structured outputs, or an instruction in the system prompt. */
  structuredOutputs: 'native' | 'instruction';
  /** Whether `temperature` and `topP` are sent (`'send'`) or left out (`'omit'`). */
  sampling: 'omit' | 'send';
}

type Block = Anthropic.ContentBlockParam;
type Role = 'user' | 'assistant';
interface Turn {
  role: Role;
  blocks: Block[];
}

/** The image types Anthropic reads. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/**
 * The Messages API body of one call (OpenAI-shaped request in, Anthropic's shape out):
 * - system and developer messages, wherever they are, go to the top-level `system`, joined by a blank line;
 * - user, assistant and tool messages become alternating turns (Anthropic requires alternation: consecutive
 *   messages of one role are merged into one turn; tool results go in a user turn, before any text of it);
 * - a trailing assistant message is sent as it is: Anthropic continues it (a prefill). Its trailing whitespace is
 *   cut, which Anthropic refuses in a final assistant turn;
 * - `maxTokens` is `max_tokens` (else `defaultMaxTokens`), `stop` is `stop_sequences`;
 * - `temperature` and `topP` are left out unless the provider is set to `sampling: 'send'`: the SDK speaks API
 *   version 2026-10-21, which refuses any sampling parameter with a 400, even at its default. When sent,
 *   `temperature` (OpenAI's 0..2) is clamped to Anthropic's 0..1;
 * - `seed` is not sent: the Messages API has none;
 * - `providerOptions.anthropic` is merged into the body last (a `null` value removes that field; `stream` is the
 *   provider's; an `output_config` is merged with the provider's, so `{ effort: 'low' }` keeps a schema's format).
 */
export function anthropicRequest(call: ProviderCall, settings: AnthropicRequestSettings): Anthropic.MessageCreateParamsNonStreaming {
  const system: string[] = [];
  const turns: Turn[] = [];
  const push = (role: Role, blocks: Block[]): void => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };
  for (const m of call.messages) {
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content, m.role);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        push('user', userBlocks(m.content));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(m));
        break;
      case 'tool':
        push('user', [toolResult(String(m.tool_call_id ?? ''), m.content)]);
        break;
      case 'function':
        push('user', [toolResult(functionCallId(m.name ?? ''), m.content)]);
        break;
      default:
        throw unsupportedContent(`a message with role ${JSON.stringify((m as { role?: unknown }).role)}`);
    }
  }
  trimPrefill(turns);
  const body: Record<string, unknown> = { model: call.model, max_tokens: call.maxTokens ?? settings.defaultMaxTokens, messages: turns.map(messageOf) };
  const instruction = formatInstruction(call, settings, body);
  if (instruction !== undefined) system.push(instruction);
  if (system.length > 0) body.system = system.join('\n\n');
  if (settings.sampling === 'send') {
    if (call.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, call.temperature));
    if (call.topP !== undefined) body.top_p = call.topP;
  }
  if (call.stop !== undefined) {
    const stops = (Array.isArray(call.stop) ? call.stop : [call.stop]).filter((s) => s !== '');
    if (stops.length > 0) body.stop_sequences = stops;
  }
  if (call.tools !== undefined && call.tools.length > 0) {
    body.tools = call.tools.map(toolOf);
    const choice = toolChoiceOf(call);
    if (choice !== undefined) body.tool_choice = choice;
  }
  const own = call.providerOptions?.anthropic;
  if (own) {
    for (const [key, value] of Object.entries(own)) {
      if (key === 'stream') continue;
      if (value === null) delete body[key];
      else if (key === 'output_config' && isObject(value) && isObject(body.output_config)) body.output_config = { ...body.output_config, ...value };
      else body[key] = value;
    }
  }
  return body as unknown as Anthropic.MessageCreateParamsNonStreaming;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A turn as a message: one plain text block is sent as a string (what most requests are), anything else as blocks. */
function messageOf(t: Turn): Anthropic.MessageParam {
  const only = t.blocks.length === 1 ? t.blocks[0] : undefined;
  if (only?.type === 'text' && Object.keys(only).length === 2) return { role: t.role, content: only.text };
  // tool results first in a user turn, as Anthropic requires (a stable sort: their order is kept)
  const blocks = t.role === 'user' ? [...t.blocks.filter((b) => b.type === 'tool_result'), ...t.blocks.filter((b) => b.type !== 'tool_result')] : t.blocks;
  return { role: t.role, content: blocks };
}

/** A final assistant turn (a prefill) may not end with whitespace; a prefill of whitespace only is dropped. */
function trimPrefill(turns: Turn[]): void {
  const last = turns[turns.length - 1];
  if (last?.role !== 'assistant') return;
  const block = last.blocks[last.blocks.length - 1];
  if (block?.type !== 'text') return;
  const text = block.text.trimEnd();
  if (text !== '') block.text = text;
  else {
    last.blocks.pop();
    if (last.blocks.length === 0) turns.pop();
  }
}

/** The text of a system, developer or tool message (a string, or text parts). */
function textOf(content: ProviderMessage['content'], role: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((p) => {
      if (p.type === 'text' && typeof p.text === 'string') return p.text;
      throw unsupportedContent(`a "${p.type}" part in a ${role} message`);
    })
    .join('');
}

function textBlock(text: string): Anthropic.TextBlockParam[] {
  // Anthropic refuses empty text blocks
  return text === '' ? [] : [{ type: 'text', text }];
}

function userBlocks(content: ProviderMessage['content']): Block[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return textBlock(content);
  return content.flatMap((p) => userPart(p));
}

function userPart(p: ProviderContentPart): Block[] {
  switch (p.type) {
    case 'text':
      return textBlock(typeof p.text === 'string' ? p.text : '');
    case 'image_url':
      return [imageBlock(p)];
    case 'file':
      return [documentBlock(p)];
    case 'input_audio':
      throw unsupportedContent('audio input (the Messages API takes none)');
    default:
      throw unsupportedContent(`a "${p.type}" part in a user message`);
  }
}

/** `data:<type>;base64,<data>`, parsed. */
function dataUrl(url: string): { mediaType: string; data: string } | null {
  const m = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1].toLowerCase(), data: m[2] } : null;
}

/** An OpenAI `image_url` part: a data URL as a base64 image, an http(s) URL as a URL image (Anthropic fetches it). */
function imageBlock(p: ProviderContentPart): Anthropic.ImageBlockParam {
  const url = (p.image_url as { url?: unknown } | undefined)?.url;
  if (typeof url !== 'string') throw unsupportedContent('an image_url part without a url');
  const data = dataUrl(url);
  if (data) {
    if (!IMAGE_TYPES.has(data.mediaType)) throw unsupportedContent(`an image of type ${data.mediaType} (Anthropic reads ${[...IMAGE_TYPES].join(', ')})`);
    return { type: 'image', source: { type: 'base64', media_type: data.mediaType as 'image/png', data: data.data } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw unsupportedContent('an image URL that is neither a data: URL nor http(s)');
}

/** An OpenAI `file` part with a PDF's data: a base64 document block. A file by id is not Anthropic's to read. */
function documentBlock(p: ProviderContentPart): Anthropic.DocumentBlockParam {
  const f = (p.file ?? {}) as { file_data?: unknown; file_id?: unknown; filename?: unknown };
  if (typeof f.file_data !== 'string') throw unsupportedContent('a file part without file_data (a file_id belongs to another provider)');
  const parsed = dataUrl(f.file_data);
  const isPdf = parsed ? parsed.mediaType === 'application/pdf' : typeof f.filename === 'string' && /\.pdf$/i.test(f.filename);
  if (!isPdf) throw unsupportedContent('a file that is not a PDF');
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: parsed ? parsed.data : f.file_data } };
}

/** An assistant message: its text (refusal parts included, as what was said), then its tool calls as `tool_use`. */
function assistantBlocks(m: ProviderMessage): Block[] {
  const blocks: Block[] = [];
  const content = m.content;
  if (typeof content === 'string') blocks.push(...textBlock(content));
  else if (Array.isArray(content)) {
    for (const p of content as readonly ProviderContentPart[]) {
      if (p.type === 'text' && typeof p.text === 'string') blocks.push(...textBlock(p.text));
      else if (p.type === 'refusal' && typeof p.refusal === 'string') blocks.push(...textBlock(p.refusal));
      else throw unsupportedContent(`a "${p.type}" part in an assistant message`);
    }
  }
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) : [];
  for (const c of calls) {
    if (c?.type !== 'function' || typeof c.function?.name !== 'string') throw unsupportedContent('a tool call that is not a function call');
    blocks.push({ type: 'tool_use', id: anthropicToolId(String(c.id ?? '')), name: c.function.name, input: inputOf(c.function.arguments) });
  }
  const fc = m.function_call as { name?: unknown; arguments?: unknown } | null | undefined;
  if (fc && typeof fc.name === 'string') blocks.push({ type: 'tool_use', id: functionCallId(fc.name), name: fc.name, input: inputOf(fc.arguments) });
  return blocks;
}

/** A tool call's arguments as the object Anthropic's `input` must be: `{}` when they are not a JSON object. */
function inputOf(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string') return {};
  try {
    const v = JSON.parse(args) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** OpenAI's deprecated `function_call` has no id: the call and its `function` answer are paired by name. */
function functionCallId(name: string): string {
  return anthropicToolId(`function_${name}`);
}

function toolResult(id: string, content: ProviderMessage['content']): Anthropic.ToolResultBlockParam {
  const text = textOf(content, 'tool');
  const block: Anthropic.ToolResultBlockParam = { type: 'tool_result', tool_use_id: anthropicToolId(id) };
  if (text !== '') block.content = text;
  return block;
}

function toolOf(t: ProviderTool): Anthropic.Tool {
  const tool: Anthropic.Tool = { name: t.function.name, input_schema: (t.function.parameters ?? { type: 'object', properties: {} }) as Anthropic.Tool.InputSchema };
  if (t.function.description !== undefined) tool.description = t.function.description;
  if (t.function.strict === true) tool.strict = true;
  return tool;
}

/** OpenAI's `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`. */
function toolChoiceOf(call: ProviderCall): Anthropic.ToolChoice | undefined {
  const single = call.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const c = call.toolChoice;
  if (c === undefined) return call.parallelToolCalls === false ? { type: 'auto', ...single } : undefined;
  if (c === 'none') return { type: 'none' };
  if (c === 'auto') return { type: 'auto', ...single };
  if (c === 'required') return { type: 'any', ...single };
  return { type: 'tool', name: c.function.name, ...single };
}

/**
 * The structured output asked for. A JSON schema is sent as Anthropic's structured outputs
 * (`output_config.format`, the schema rewritten by the SDK's own helper into the subset Anthropic accepts) unless
 * the provider is set to `structuredOutputs: 'instruction'` or the schema cannot be expressed; then, and for
 * `json_object`, the system prompt asks for JSON. The library validates the answer against the original schema
 * either way. Returns the instruction to add to the system prompt, if any.
 */
function formatInstruction(call: ProviderCall, settings: AnthropicRequestSettings, body: Record<string, unknown>): string | undefined {
  const f = call.responseFormat;
  if (f === undefined || f.type === 'text') return undefined;
  if (f.type === 'json_object') return 'Answer with a single JSON object and nothing else: no prose, no code fences.';
  const schema = f.json_schema.schema;
  if (schema === undefined) return 'Answer with a single JSON value and nothing else: no prose, no code fences.';
  if (settings.structuredOutputs === 'native') {
    try {
      body.output_config = { format: { type: 'json_schema', schema: anthropicSchemaTransform()(schema) } };
      return undefined;
    } catch {
      // a schema the structured outputs cannot express: asked for in words instead
    }
  }
  return `Answer with JSON only, no prose and no code fences, matching this JSON Schema:\n${JSON.stringify(schema)}`;
}
