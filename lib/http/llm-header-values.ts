import type { CompletionResult } from '../types';

/** What a header value may hold as it is: visible ASCII without `%` (which marks an encoded byte). */
const AS_IS = /^[\x21-\x24\x26-\x7e]*$/;
const TO_ENCODE = /[^\x21-\x24\x26-\x7e]/gu;

/**
 * A name as a header value: visible ASCII as it is; a space, `%`, a control character (CR, LF, NUL…) or anything
 * beyond ASCII as its UTF-8 bytes, percent-encoded (`decodeURIComponent` reads it back). So no name, configured or
 * read from a shared store, can break a response or add a header to it.
 */
export function headerSafeName(name: string): string {
  if (AS_IS.test(name)) return name;
  return name.replace(TO_ENCODE, (ch) => {
    let out = '';
    for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
    return out;
  });
}

/** Whether `value` is one `llmHeaderValues` could make: visible ASCII only (the check where headers are set). */
export function isPlainHeaderValue(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]*$/.test(value);
}

/** `exposeHeaders`: what the response says about who answered (`x-llm-model`, `-fallback`, `-cache`, `-attempts`). */
export function llmHeaderValues(model: string, fallback: boolean, cached: CompletionResult['cached'], attempts: number): Record<string, string> {
  return {
    'x-llm-model': headerSafeName(String(model)),
    'x-llm-fallback': fallback === true ? 'true' : 'false',
    'x-llm-cache': cached === 'semantic' ? 'semantic' : cached ? 'hit' : 'miss',
    'x-llm-attempts': String(Number.isSafeInteger(attempts) && attempts >= 0 ? attempts : 0),
  };
}
