/**
 * Images and other non-text parts count in a prompt's size by a fixed estimate (765 tokens an image, 85 at
 * `detail: 'low'`; 4 characters a token in `maxPromptChars`), never by the length of their data: a data URL's
 * base64 is not text. The estimate applies to `maxPromptChars`, `maxPromptTokens` and the context-window plans,
 * and the parts themselves still reach the provider untouched.
 */
import fc from 'fast-check';
import { createEngine, isRequestError } from '../../../lib';
import { ContextPlan } from '../../../lib/core/context/context-plan';
import {
  CHARS_PER_ESTIMATED_TOKEN,
  IMAGE_PART_TOKENS,
  LOW_DETAIL_IMAGE_TOKENS,
  messageTokens,
  promptChars,
  promptTokens,
  textTokens,
} from '../../../lib/core/request/prompt-size';
import { memoryProvider } from '../../../lib/testing';
import type { ChatMessage } from '../../../lib/types';

const dataUrl = (bytes: number) => `data:image/png;base64,${Buffer.alloc(bytes, 7).toString('base64')}`;
const withImage = (text: string, url: string, detail?: string): ChatMessage => ({
  role: 'user',
  content: [{ type: 'text', text }, { type: 'image_url', image_url: detail === undefined ? { url } : { url, detail } }],
});

describe('the size of a prompt with images', () => {
  it('is the text plus the fixed estimate per image, whatever the image\'s data', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.integer({ min: 0, max: 200_000 }), fc.constantFrom(undefined, 'auto', 'high', 'low'), (text, bytes, detail) => {
        const m = withImage(text, dataUrl(bytes), detail);
        const image = detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_PART_TOKENS;
        expect(promptChars([m])).toBe(text.length + image * CHARS_PER_ESTIMATED_TOKEN);
        expect(messageTokens(m)).toBe(3 + textTokens(text) + image);
      }),
      { numRuns: 50 },
    );
    expect(IMAGE_PART_TOKENS).toBe(85 + 4 * 170);
  });

  it('counts each image, audio and file part once, and text parts as text', () => {
    const m: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'compare' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        { type: 'image_url', image_url: { url: dataUrl(3000), detail: 'low' } },
        { type: 'input_audio', input_audio: { data: Buffer.alloc(5000).toString('base64'), format: 'wav' } },
        { type: 'file', file: { file_data: Buffer.alloc(5000).toString('base64'), filename: 'a.pdf' } },
      ],
    };
    const estimate = IMAGE_PART_TOKENS + LOW_DETAIL_IMAGE_TOKENS + IMAGE_PART_TOKENS + IMAGE_PART_TOKENS;
    expect(promptChars([m])).toBe('compare'.length + estimate * CHARS_PER_ESTIMATED_TOKEN);
    expect(promptTokens([m])).toBe(3 + 3 + textTokens('compare') + estimate);
  });

  it('goes into the context-window plan: a message of images is what does not fit, and can be dropped', () => {
    const messages: ChatMessage[] = [withImage('old', dataUrl(1000)), { role: 'assistant', content: 'ok' }, { role: 'user', content: 'now this' }];
    const plan = new ContextPlan(messages, 10);
    const total = promptTokens(messages);
    expect(plan.fit(total + 10, undefined, false)).toMatchObject({ fits: true, promptTokens: total });
    expect(plan.fit(total + 9, undefined, false)).toMatchObject({ fits: false, needed: total + 10 });
    const trimmed = plan.fit(100, undefined, 'oldest');
    expect(trimmed).toMatchObject({ fits: true, droppedIndexes: [0] });
  });
});

describe('the engine with images', () => {
  it('refuses by maxPromptChars and maxPromptTokens counting the estimate, with no upstream call, and passes images on otherwise', async () => {
    const provider = memoryProvider({ fallback: { text: 'seen' } });
    const url = dataUrl(2 * 1024 * 1024);
    const image = withImage('what is this', url);
    const chars = promptChars([image]);
    const tokens = promptTokens([image]);
    for (const limits of [{ maxPromptChars: chars - 1 }, { maxPromptTokens: tokens - 1 }]) {
      const engine = createEngine({ models: [{ name: 'm', model: 'm', provider }], cache: false, ...limits });
      try {
        const err = await engine.complete({ messages: [image] }).catch((e: unknown) => e);
        expect(isRequestError(err) && err.status).toBe(413);
      } finally {
        await engine.close();
      }
    }
    expect(provider.calls).toHaveLength(0);
    // at the limits, and far below the 2.8 MB of base64: answered, the image passed on as it was
    const engine = createEngine({ models: [{ name: 'm', model: 'm', provider }], cache: false, maxPromptChars: chars, maxPromptTokens: tokens });
    try {
      expect((await engine.complete({ messages: [image] })).text).toBe('seen');
      const sent = provider.calls[0].messages[0].content as unknown as { image_url?: { url: string } }[];
      expect(sent[1].image_url?.url).toBe(url);
    } finally {
      await engine.close();
    }
  });

  it('moves on from a model whose context window the images do not fit', async () => {
    const small = memoryProvider({ fallback: { text: 'small' } });
    const large = memoryProvider({ fallback: { text: 'large' } });
    const twoImages: ChatMessage = { role: 'user', content: [{ type: 'text', text: 'both?' }, { type: 'image_url', image_url: { url: dataUrl(10) } }, { type: 'image_url', image_url: { url: dataUrl(10) } }] };
    const engine = createEngine({
      models: [
        { name: 'small', model: 's', provider: small, contextWindow: 1000 },
        { name: 'large', model: 'l', provider: large, contextWindow: 8000 },
      ],
      cache: false,
    });
    try {
      const r = await engine.complete({ messages: [twoImages], maxTokens: 100 });
      expect(r).toMatchObject({ text: 'large', model: 'large' });
      expect(small.calls).toHaveLength(0);
    } finally {
      await engine.close();
    }
  });
});
