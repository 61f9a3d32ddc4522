import { EventBus } from '../../../lib/core/events/event-bus';
import { callIsolated } from '../../../lib/core/events/user-callback';
import type { RequestSummary } from '../../../lib/types';

describe('EventBus', () => {
  it('delivers typed payloads and unsubscribes', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const off = bus.on('breaker:open', (e) => seen.push(e.model));
    bus.emit('breaker:open', { model: 'a', halfOpenAt: 1 });
    off();
    bus.emit('breaker:open', { model: 'b', halfOpenAt: 1 });
    expect(seen).toEqual(['a']);
    expect(bus.has('breaker:open')).toBe(false);
  });

  it('isolates a throwing listener and warns once', () => {
    const bus = new EventBus();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const seen: string[] = [];
    bus.on('breaker:close', () => {
      throw new Error('boom');
    });
    bus.on('breaker:close', (e) => seen.push(e.model));
    expect(() => bus.emit('breaker:close', { model: 'x' })).not.toThrow();
    bus.emit('breaker:close', { model: 'y' });
    expect(seen).toEqual(['x', 'y']);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });

  it('asks a filtered request listener first, and delivers only what it wants', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const off = bus.onRequestWhere((o) => o.fallback, (s) => seen.push(s.requestId));
    const summary = (requestId: string, fallback: boolean): RequestSummary => ({
      requestId,
      kind: 'complete',
      chain: ['a'],
      outcome: 'success',
      model: 'a',
      cached: false,
      fallback,
      hedged: false,
      attempts: [],
      usage: null,
      latencyMs: 1,
      text: 'x',
      finishReason: 'stop',
      requestedModel: 'a',
      providerModel: 'a',
      promptHash: 'h',
    });
    expect(bus.has('request')).toBe(false);
    expect(bus.mayWantRequest()).toBe(true);
    expect(bus.wantsRequest({ cached: false, fallback: false, attempts: [] })).toBe(false);
    expect(bus.wantsRequest({ cached: false, fallback: true, attempts: [] })).toBe(true);
    bus.emit('request', summary('plain', false));
    bus.emit('request', summary('fell-back', true));
    expect(seen).toEqual(['fell-back']);
    // an unfiltered listener wants every request
    const all: string[] = [];
    const offAll = bus.on('request', (s) => all.push(s.requestId));
    expect(bus.wantsRequest({ cached: true, fallback: false, attempts: [] })).toBe(true);
    bus.emit('request', summary('plain-2', false));
    expect(all).toEqual(['plain-2']);
    expect(seen).toEqual(['fell-back']);
    off();
    offAll();
    expect(bus.mayWantRequest()).toBe(false);
  });

  it('rejects a non-function listener', () => {
    expect(() => new EventBus().on('attempt', 'x' as never)).toThrow(TypeError);
  });
});

describe('callIsolated', () => {
  it('reports a throw, a rejected promise and a broken thenable, and nothing for a clean call', async () => {
    const errors: unknown[] = [];
    const onError = (e: unknown): void => void errors.push(e instanceof Error ? e.message : e);
    callIsolated(() => 1, undefined, onError);
    callIsolated(() => {
      throw new Error('sync');
    }, undefined, onError);
    callIsolated(async () => Promise.reject(new Error('async')), undefined, onError);
    callIsolated(
      () => ({
        then() {
          throw new Error('broken then');
        },
      }),
      undefined,
      onError,
    );
    await new Promise((r) => setImmediate(r));
    expect(errors.sort()).toEqual(['async', 'broken then', 'sync']);
  });
});
