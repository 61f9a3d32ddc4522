import type Anthropic from '@anthropic-ai/sdk';
import type { ProviderCall, ProviderFinishReason, ProviderStreamPart, ProviderUsage } from '../../core/provider/chat-provider';
import { InvalidAnswerError } from '../../core/validation/invalid-answer';
import { finishReasonOf, refusalOf, toolCallOf, usageOf } from './anthropic-answer';
import { anthropicFailure } from './anthropic-errors';

/** A `tool_use` block being streamed: its id, name and the pieces of its input's JSON so far. */
interface PendingToolCall {
  id: string;
  name: string;
  json: string;
}

/**
 * Anthropic's event stream as the library's parts: each `text_delta` as a text part; a `tool_use` block's
 * `input_json_delta` pieces gathered and given as one whole tool-call part when the block stops; the stop reason
 * (from `message_delta`) and the usage (input from `message_start`, output from `message_delta`) as the finish
 * part, given at `message_stop`.
 *
 * A stream never ends silently: an `error` event inside the 200 stream (Anthropic sends `overloaded_error` that
 * way) is thrown as a `ProviderError` (see `anthropicFailure`), and a stream that ends before `message_stop` (the
 * connection closed, or the SDK stopped reading because the signal fired, which it does without an error)
 * throws: the abort reason when the call was aborted, else an `Error`.
 */
export async function* anthropicStream(events: AsyncIterable<Anthropic.RawMessageStreamEvent>, call: ProviderCall): AsyncGenerator<ProviderStreamPart> {
  const tools = new Map<number, PendingToolCall>();
  let providerModel: string | undefined;
  let inputUsage: Partial<Anthropic.Usage> = {};
  let usage: ProviderUsage | undefined;
  let finishReason: ProviderFinishReason | undefined;
  let stopDetails: Anthropic.RefusalStopDetails | null = null;
  let text = '';
  try {
    for await (const ev of events) {
      switch (ev.type) {
        case 'message_start':
          if (typeof ev.message?.model === 'string' && ev.message.model !== '') providerModel = ev.message.model;
          inputUsage = ev.message?.usage ?? {};
          break;
        case 'content_block_start': {
          const block = ev.content_block;
          if (block.type === 'tool_use') tools.set(ev.index, { id: block.id, name: block.name, json: '' });
          else if (block.type === 'text' && block.text !== '') {
            text += block.text;
            yield { type: 'text', text: block.text };
          }
          break;
        }
        case 'content_block_delta': {
          const delta = ev.delta;
          if (delta.type === 'text_delta') {
            text += delta.text;
            if (delta.text !== '') yield { type: 'text', text: delta.text };
          } else if (delta.type === 'input_json_delta') {
            const pending = tools.get(ev.index);
            if (pending) pending.json += delta.partial_json;
          }
          break;
        }
        case 'content_block_stop': {
          const pending = tools.get(ev.index);
          if (pending) {
            tools.delete(ev.index);
            // a tool without parameters streams no JSON at all: its input is {}
            yield { type: 'tool-call', toolCall: toolCallOf(pending.id, pending.name, pending.json.trim() === '' ? '{}' : pending.json) };
          }
          break;
        }
        case 'message_delta':
          finishReason = finishReasonOf(ev.delta?.stop_reason);
          stopDetails = ev.delta?.stop_details ?? null;
          // the delta's counts are cumulative; input counts it leaves out are message_start's
          if (ev.usage) {
            usage = usageOf({
              input_tokens: ev.usage.input_tokens ?? inputUsage.input_tokens,
              cache_read_input_tokens: ev.usage.cache_read_input_tokens ?? inputUsage.cache_read_input_tokens,
              cache_creation_input_tokens: ev.usage.cache_creation_input_tokens ?? inputUsage.cache_creation_input_tokens,
              output_tokens: ev.usage.output_tokens,
            });
          }
          break;
        case 'message_stop': {
          if (finishReason === undefined) throw new InvalidAnswerError('the Anthropic stream stopped without a stop_reason');
          if (finishReason === 'content_filter') yield { type: 'refusal', refusal: refusalOf(stopDetails, text) };
          const finish: ProviderStreamPart = { type: 'finish', finishReason };
          if (usage) finish.usage = usage;
          if (providerModel !== undefined) finish.providerModel = providerModel;
          yield finish;
          return;
        }
        default:
          break;
      }
    }
  } catch (err) {
    throw anthropicFailure(err, call.signal);
  }
  if (call.signal.aborted) throw call.signal.reason ?? new Error('aborted');
  throw new Error('the Anthropic stream ended before message_stop');
}
