import type { ProviderCall, ProviderStreamPart } from '../../../lib/core/provider/chat-provider';

/** A call to `claude-x` asking `content`, with a fresh AbortController's signal (or `signal`). */
export function callOf(over: Partial<ProviderCall> = {}): ProviderCall {
  return { model: 'claude-x', name: 'claude', messages: [{ role: 'user', content: 'hello there' }], signal: new AbortController().signal, ...over };
}

/** Every part a provider's stream gives, or what it threw with the parts before it. */
export async function collect(parts: AsyncIterable<ProviderStreamPart>): Promise<{ parts: ProviderStreamPart[]; error?: unknown }> {
  const out: ProviderStreamPart[] = [];
  try {
    for await (const p of parts) out.push(p);
    return { parts: out };
  } catch (error) {
    return { parts: out, error };
  }
}

/** Resolves when `cond` holds (polled), or fails after `ms`. */
export async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
