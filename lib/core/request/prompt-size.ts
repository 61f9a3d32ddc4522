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

/** Characters of text in the messages (the cheap bound). */
export function promptChars(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += contentText(m.content).length;
  return n;
}

/** Tokens the reply's priming adds to every chat prompt. */
export const PRIMING_TOKENS = 3;

/** One message's tokens in OpenAI's chat accounting: content + 3 (+ name + 1). */
export function messageTokens(m: ChatMessage): number {
  let n = 3 + textTokens(contentText(m.content));
  if ('name' in m && typeof m.name === 'string') n += 1 + textTokens(m.name);
  return n;
}

/** Prompt tokens as OpenAI's chat format counts them: per-message tokens + 3 for the reply's priming. */
export function promptTokens(messages: readonly ChatMessage[]): number {
  let n = PRIMING_TOKENS;
  for (const m of messages) n += messageTokens(m);
  return n;
}
