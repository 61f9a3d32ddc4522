import { createHash } from 'node:crypto';

/** OpenAI's `usage` object. */
export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What every `chat.completion` object and chunk of one answer share. */
export interface CompletionMeta {
  id: string;
  /** Unix seconds. */
  created: number;
  model: string;
  /** `system_fingerprint`: left out when undefined (some providers never send it). */
  systemFingerprint?: string | null;
}

/** A fresh `chatcmpl-…` id. */
export function completionId(): string {
  return `chatcmpl-${createHash('sha256').update(`${Date.now()}-${Math.random()}`).digest('hex').slice(0, 24)}`;
}

/** The library's usage (camel case) as OpenAI's. */
export function wireUsage(u: { promptTokens: number; completionTokens: number; totalTokens: number }): WireUsage {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}

/** The one choice of an answer: the assistant's text and why it ended. */
export function assistantChoice(text: string, finishReason: string | null): Record<string, unknown> {
  return { index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: finishReason, logprobs: null };
}

/** A choice of a result, as OpenAI sends it: `content` null beside tool calls or a refusal with no text. */
export function resultChoice(c: { index?: number; text: string; finishReason: string; toolCalls?: readonly ToolCall[]; refusal?: string; logprobs?: unknown }): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: c.text === '' && (c.toolCalls !== undefined || c.refusal !== undefined) ? null : c.text, refusal: c.refusal ?? null };
  if (c.toolCalls !== undefined) message.tool_calls = c.toolCalls;
  return { index: c.index ?? 0, message, finish_reason: c.finishReason, logprobs: c.logprobs ?? null };
}

import type { ToolCall } from '../../types';

function head(meta: CompletionMeta, object: string): Record<string, unknown> {
  const out: Record<string, unknown> = { id: meta.id, object, created: meta.created, model: meta.model };
  if (meta.systemFingerprint !== undefined) out.system_fingerprint = meta.systemFingerprint;
  return out;
}

/** A `chat.completion` object (`usage` left out when undefined). */
export function chatCompletion(meta: CompletionMeta, choices: unknown[], usage?: WireUsage): Record<string, unknown> {
  const out = { ...head(meta, 'chat.completion'), choices };
  return usage === undefined ? out : { ...out, usage };
}

/** A `chat.completion.chunk` carrying one delta (`{ role }`, `{ content }`, or `{}` with the finish reason). */
export function completionChunk(meta: CompletionMeta, delta: Record<string, unknown>, finishReason: string | null): Record<string, unknown> {
  return { ...head(meta, 'chat.completion.chunk'), choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] };
}

/** The chunk `stream_options.include_usage` asks for: no choice, the usage. */
export function usageChunk(meta: CompletionMeta, usage: WireUsage): Record<string, unknown> {
  return { ...head(meta, 'chat.completion.chunk'), choices: [], usage };
}

/** One chunk as an SSE frame (OpenAI's stream has data lines only). */
export function dataFrame(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

/** The frame that ends a clean stream. */
export const DONE_FRAME = 'data: [DONE]\n\n';
