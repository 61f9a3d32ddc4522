import { LRUCache } from 'lru-cache';
import { isMissingPackageError } from '../../errors/missing-package-error';
import type { ChatMessage } from '../../types';
import { loadOptional, OPTIONAL_PACKAGES } from '../load-optional';
import { sha256 } from '../sha256';

type CountTokens = (text: string) => number;
let counter: CountTokens | undefined;

/**
 * Loads the tokenizer (gpt-tokenizer, an optional peer dependency; o200k_base: the encoding of the
 * GPT-4o/4.1/o-series families). It takes ~0.3 s and a few MB, so it is loaded at start-up only when an option
 * needs token counts, and otherwise on the first answer whose usage the provider did not report.
 * Not installed: a `MissingPackageError` naming it.
 */
export function loadTokenizer(): CountTokens {
  if (!counter) {
    const enc = loadOptional<{ countTokens: CountTokens }>(OPTIONAL_PACKAGES.tokenizer, 'gpt-tokenizer/encoding/o200k_base');
    counter = enc.countTokens;
  }
  return counter;
}

let installed: boolean | undefined;

/**
 * Whether the tokenizer can be had (loading it if so). Without it, usage a provider did not report stays as
 * reported (zero) instead of failing the answer; the options that need token counts load it at start-up instead.
 */
export function tokenizerInstalled(): boolean {
  if (installed === undefined) {
    try {
      loadTokenizer();
      installed = true;
    } catch (err) {
      if (!isMissingPackageError(err)) throw err;
      installed = false;
    }
  }
  return installed;
}

function contentText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content as unknown[]) {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (p && typeof p.text === 'string') out += p.text;
  }
  return out;
}

/**
 * Tokens an image part counts for, whatever its size: OpenAI's tile accounting for a 1024×1024 image at `high`
 * (or `auto`) detail, scaled to 768×768: 85 base tokens + 4 tiles of 512 px × 170 = 765. The image's bytes are
 * never decoded, so its real size is unknown; this is the figure of a common photo or screenshot.
 */
export const IMAGE_PART_TOKENS = 765;
/** An image part with `detail: 'low'`: OpenAI's flat 85 tokens. */
export const LOW_DETAIL_IMAGE_TOKENS = 85;
/**
 * Characters a token of a non-text part counts for in `maxPromptChars` (the usual ~4 characters a token of
 * English text), so an image counts as 765 × 4 = 3060 characters there, never as the length of its URL or base64.
 */
export const CHARS_PER_ESTIMATED_TOKEN = 4;

/**
 * Estimated tokens of a message's parts that are not text: an image 765 (85 at `detail: 'low'`); any other part
 * that carries no text (audio, a file) as much as an image. A part's data (a data URL's base64, audio bytes) is
 * never counted as text.
 */
function partTokens(content: ChatMessage['content']): number {
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content as unknown[]) {
    const p = part as { type?: unknown; text?: unknown; refusal?: unknown; image_url?: { detail?: unknown } } | null;
    if (!p || typeof p !== 'object' || typeof p.text === 'string' || typeof p.refusal === 'string') continue;
    n += p.type === 'image_url' && p.image_url?.detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_PART_TOKENS;
  }
  return n;
}

/** Texts at least this long have their token counts remembered (shorter ones cost less to count than to look up). */
const REMEMBER_FROM = 256;
/**
 * Token counts of long texts, by a hash of the text (no prompt text is kept). A long system prompt is usually
 * the same on every request, and one request may need its prompt's count up to three times (the size limit,
 * the context windows, the cost estimate); counting 11 000 characters takes about 1.6 ms here.
 */
const remembered = new LRUCache<string, number>({ max: 5000 });

/** Tokens of one text (not a message: no per-message overhead). */
export function textTokens(text: string): number {
  const count = loadTokenizer();
  if (text.length < REMEMBER_FROM) return count(text);
  const key = sha256(text);
  let n = remembered.get(key);
  if (n === undefined) {
    n = count(text);
    remembered.set(key, n);
  }
  return n;
}

/** Characters of text in the messages (the cheap bound), each image or other non-text part as 3060 (340 at low detail). */
export function promptChars(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += contentText(m.content).length + partTokens(m.content) * CHARS_PER_ESTIMATED_TOKEN;
  return n;
}

/** Tokens the reply's priming adds to every chat prompt. */
export const PRIMING_TOKENS = 3;

/** One message's tokens in OpenAI's chat accounting: content + 3 (+ name + 1); each image or other non-text part as estimated above. */
export function messageTokens(m: ChatMessage): number {
  let n = 3 + textTokens(contentText(m.content)) + partTokens(m.content);
  if ('name' in m && typeof m.name === 'string') n += 1 + textTokens(m.name);
  return n;
}

/** Prompt tokens as OpenAI's chat format counts them: per-message tokens + 3 for the reply's priming. */
export function promptTokens(messages: readonly ChatMessage[]): number {
  let n = PRIMING_TOKENS;
  for (const m of messages) n += messageTokens(m);
  return n;
}
