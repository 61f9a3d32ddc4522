import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatMessage, CompletionRequest } from '../../lib';

/**
 * Type-level: the library's own message type takes OpenAI-typed messages without a cast (checked by `tsc`, which
 * typechecks the tests). The run only checks that the values went through unchanged.
 */
const fromOpenAI: ChatCompletionMessageParam[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'developer', content: [{ type: 'text', text: 'No lists.' }], name: 'dev' },
  { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==', detail: 'low' } }] },
  { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AA==', format: 'wav' } }, { type: 'file', file: { file_id: 'f1' } }] },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
  { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }], refusal: 'no', audio: { id: 'a1' } },
  { role: 'tool', tool_call_id: 'c1', content: '42' },
  { role: 'function', name: 'lookup', content: null },
];
const messages: ChatMessage[] = fromOpenAI;
const single: ChatMessage = fromOpenAI[0];
const request: CompletionRequest = { messages: fromOpenAI };

// @ts-expect-error: a role the API does not have
const wrongRole: ChatMessage = { role: 'robot', content: 'x' };
// @ts-expect-error: a tool message needs its call's id
const noCallId: ChatMessage = { role: 'tool', content: 'x' };

describe('ChatMessage', () => {
  it('takes OpenAI-typed messages as they are', () => {
    expect(messages).toBe(fromOpenAI);
    expect(single).toBe(fromOpenAI[0]);
    expect(request.messages).toHaveLength(8);
    expect([wrongRole, noCallId]).toHaveLength(2);
  });
});
