import { ProviderError } from '../../lib/core/provider/chat-provider';
import { memoryProvider } from '../../lib/testing/memory-provider';

const call = (signal = new AbortController().signal) => ({ model: 'm-1', name: 'm', messages: [{ role: 'user' as const, content: 'hi' }], signal });

describe('memoryProvider', () => {
  it('takes its steps in order, then answers with the fallback step', async () => {
    const p = memoryProvider({ steps: [{ kind: 'fail', status: 429, retryAfterMs: 1500 }, { text: 'second' }], fallback: { text: 'rest' } });
    const first = await p.complete(call()).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ProviderError);
    expect(first).toMatchObject({ status: 429, retryAfterMs: 1500 });
    await expect(p.complete(call())).resolves.toMatchObject({ text: 'second', finishReason: 'stop' });
    await expect(p.complete(call())).resolves.toMatchObject({ text: 'rest' });
    expect(p.calls.map((c) => c.state)).toEqual(['failed', 'answered', 'answered']);
    expect(p.inFlight).toBe(0);
  });

  it('a hanging call ends when its signal fires, and is recorded as aborted', async () => {
    const p = memoryProvider({ fallback: { kind: 'hang' } });
    const ac = new AbortController();
    const pending = p.complete(call(ac.signal));
    expect(p.inFlight).toBe(1);
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(p.calls[0]).toMatchObject({ state: 'aborted', aborted: true });
    expect(p.inFlight).toBe(0);
  });

  it('honours latency with fake timers', async () => {
    jest.useFakeTimers();
    try {
      const p = memoryProvider({ fallback: { text: 'late', latencyMs: 1000 } });
      let done = false;
      const pending = p.complete(call()).then((a) => ((done = true), a));
      await jest.advanceTimersByTimeAsync(999);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await expect(pending).resolves.toMatchObject({ text: 'late' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('streams text parts then one finish; a cut step fails after the given characters', async () => {
    const p = memoryProvider({ steps: [{ text: 'abcdefghij' }, { kind: 'cut', text: 'abcdefghij', afterChars: 5, status: 502 }], chunkChars: 3 });
    const parts: unknown[] = [];
    for await (const part of p.stream!(call())) parts.push(part);
    expect(parts).toEqual([
      { type: 'text', text: 'abc' },
      { type: 'text', text: 'def' },
      { type: 'text', text: 'ghi' },
      { type: 'text', text: 'j' },
      { type: 'finish', finishReason: 'stop' },
    ]);
    const got: string[] = [];
    const err = await (async () => {
      for await (const part of p.stream!(call())) if (part.type === 'text') got.push(part.text);
    })().catch((e: unknown) => e);
    expect(got.join('')).toBe('abcde');
    expect(err).toMatchObject({ status: 502 });
    expect(p.calls.map((c) => c.state)).toEqual(['answered', 'failed']);
  });

  it('without streams it has no stream() method', () => {
    expect(memoryProvider({ streams: false }).stream).toBeUndefined();
  });
});
