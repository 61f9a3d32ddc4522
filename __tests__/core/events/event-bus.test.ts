import { EventBus } from '../../../lib/core/events/event-bus';

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

  it('rejects a non-function listener', () => {
    expect(() => new EventBus().on('attempt', 'x' as never)).toThrow(TypeError);
  });
});
