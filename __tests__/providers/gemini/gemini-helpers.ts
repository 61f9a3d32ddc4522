import type { ProviderCall, ProviderStreamPart } from '../../../lib/core/provider/chat-provider';
import { type GeminiProvider, geminiProvider } from '../../../lib/providers/gemini/gemini-provider';
import type { FakeLlm } from '../../../lib/testing';

/** A Gemini provider on the fake server's root (the SDK adds `/v1beta/models/…`). */
export function providerFor(fake: FakeLlm, apiKey = 'k'): GeminiProvider {
  return geminiProvider({ apiKey, baseURL: `http://127.0.0.1:${fake.port}` });
}

/** A provider call with a signal of its own (`abort` fires it). */
export function callOf(fields: Partial<ProviderCall> & Pick<ProviderCall, 'messages'>, model = 'gemini-x'): ProviderCall & { abort(): void } {
  const controller = new AbortController();
  return { model, name: 'flash', signal: controller.signal, abort: () => controller.abort(), ...fields };
}

/** Every part of a stream, or what it threw with the parts before. */
export async function drain(stream: AsyncIterable<ProviderStreamPart>): Promise<{ parts: ProviderStreamPart[]; error?: unknown }> {
  const parts: ProviderStreamPart[] = [];
  try {
    for await (const p of stream) parts.push(p);
    return { parts };
  } catch (error) {
    return { parts, error };
  }
}

export async function waitFor(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
