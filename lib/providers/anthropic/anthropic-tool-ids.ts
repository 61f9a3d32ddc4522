import { createHash } from 'node:crypto';

/** What Anthropic accepts as a `tool_use` id (and so as a `tool_result`'s `tool_use_id`). */
const VALID_ID = /^[a-zA-Z0-9_-]+$/;

/**
 * A tool-call id as Anthropic accepts it. An id that already is one (OpenAI's `call_…`, Anthropic's own
 * `toolu_…`) is sent as it is, so an id goes back to the model exactly as the model wrote it. Any other id (from
 * another provider: dots, colons, slashes) has each character outside `[a-zA-Z0-9_-]` replaced with `_` and a
 * short hash of the whole original appended, so two ids that differ only in those characters stay different.
 * The mapping is a pure function of the id: an assistant's `tool_use` and the `tool_result` answering it (in
 * the same request or in a later one) always get the same id.
 */
export function anthropicToolId(id: string): string {
  if (VALID_ID.test(id)) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  const safe = id.replace(/[^a-zA-Z0-9_-]/g, '_');
  return `${safe}_${hash}`;
}
