// eslint-disable-next-line @typescript-eslint/no-require-imports
const encoder = require('gpt-tokenizer/encoding/o200k_base') as { countTokens: (text: string) => number };
// The spy is in place before prompt-size loads the tokenizer (this file's module registry is its own).
const countTokens = jest.spyOn(encoder, 'countTokens');
import { messageTokens, promptTokens, textTokens } from '../../../lib/core/request/prompt-size';

const longSystem = 'You answer questions about our product catalogue, briefly and politely. '.repeat(20);

describe('prompt token counts', () => {
  beforeEach(() => countTokens.mockClear());

  it('counts a long text once: the same system prompt on the next request is not tokenized again', () => {
    const first = promptTokens([{ role: 'system', content: longSystem }, { role: 'user', content: 'hi' }]);
    const calls = countTokens.mock.calls.length;
    const second = promptTokens([{ role: 'system', content: `${longSystem}` }, { role: 'user', content: 'hello' }]);
    expect(second).toBe(first + (textTokens('hello') - textTokens('hi')));
    // the long text was tokenized once in all; the short ones each time
    expect(countTokens.mock.calls.filter(([t]) => t === longSystem)).toHaveLength(1);
    expect(countTokens.mock.calls.length).toBeGreaterThan(calls);
  });

  it('gives the tokenizer’s own count for every text, remembered or not', () => {
    for (const text of [longSystem, `${longSystem}!`, 'short', '']) {
      expect(textTokens(text)).toBe(encoder.countTokens(text));
      expect(textTokens(text)).toBe(encoder.countTokens(text));
    }
    expect(messageTokens({ role: 'user', content: longSystem, name: 'ann' })).toBe(3 + encoder.countTokens(longSystem) + 1 + encoder.countTokens('ann'));
  });
});
