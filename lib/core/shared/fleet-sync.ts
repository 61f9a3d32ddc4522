import { randomUUID } from 'node:crypto';
import type { BreakerRegistry } from '../breaker/breaker-registry';
import type { EventBus } from '../events/event-bus';
import type { Cooldowns } from '../fallback/cooldowns';
import type { ResolvedModel } from '../options/resolve-options';
import type { SharedStore } from './shared-store';

type FleetMessage =
  | { type: 'open'; model: string; until: number; origin: string }
  | { type: 'close'; model: string; origin: string }
  | { type: 'cooldown'; model: string; until: number; origin: string };

const CHANNEL = 'fleet';

/**
 * Shares breaker openings and 429 cool-downs across processes: a Redis key with a TTL (for processes that
 * start later) plus pub/sub (so the others skip the model within about a second). Only one process in the
 * fleet sends a half-open probe (SET NX); its result closes or re-opens the breaker everywhere. Everything is
 * best-effort: without Redis, each process's own breakers keep working.
 */
export class FleetSync {
  readonly #origin = randomUUID();
  #applyingRemote = false;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(
    private readonly store: SharedStore,
    private readonly models: readonly ResolvedModel[],
    private readonly breakers: BreakerRegistry,
    private readonly cooldowns: Cooldowns,
    private readonly events: EventBus,
  ) {
    this.#unsubscribe.push(
      events.on('breaker:open', (e) => this.#local({ type: 'open', model: e.model, until: e.halfOpenAt, origin: this.#origin })),
      events.on('breaker:close', (e) => this.#local({ type: 'close', model: e.model, origin: this.#origin })),
      events.on('cooldown', (e) => this.#local({ type: 'cooldown', model: e.model, until: e.until, origin: this.#origin })),
    );
  }

  /** Subscribes and reads the current fleet state (for a process that starts during an incident). */
  async start(): Promise<void> {
    await this.store.subscribe(CHANNEL, (raw) => this.#remote(raw));
    const now = Date.now();
    await Promise.all(
      this.models.map(async (m) => {
        const [open, cool] = await Promise.all([this.store.get(`breaker:${m.name}`), this.store.get(`cooldown:${m.name}`)]);
        if (open !== null && Number(open) > now) this.#remote(JSON.stringify({ type: 'open', model: m.name, until: Number(open), origin: 'warm-up' }));
        if (cool !== null && Number(cool) > now) this.#remote(JSON.stringify({ type: 'cooldown', model: m.name, until: Number(cool), origin: 'warm-up' }));
      }),
    );
  }

  /** Whether this process may send the half-open probe for `model` (true also when Redis is unavailable). */
  async tryProbe(model: string, ttlMs: number): Promise<boolean> {
    const got = await this.store.setIfAbsent(`probe:${model}`, this.#origin, ttlMs);
    return got !== false;
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
  }

  #local(msg: FleetMessage): void {
    if (this.#applyingRemote) return; // applying someone else's news: do not echo it
    const ttl = msg.type === 'close' ? 0 : msg.until - Date.now();
    if (msg.type === 'open') void this.store.set(`breaker:${msg.model}`, String(msg.until), ttl);
    if (msg.type === 'close') {
      void this.store.del(`breaker:${msg.model}`);
      void this.store.del(`probe:${msg.model}`);
    }
    if (msg.type === 'cooldown') void this.store.set(`cooldown:${msg.model}`, String(msg.until), ttl);
    void this.store.publish(CHANNEL, JSON.stringify(msg));
  }

  #remote(raw: string): void {
    let msg: FleetMessage;
    try {
      msg = JSON.parse(raw) as FleetMessage;
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || msg.origin === this.#origin || typeof msg.model !== 'string') return;
    if (!this.models.some((m) => m.name === msg.model)) return;
    this.#applyingRemote = true;
    try {
      const breaker = this.breakers.for(msg.model);
      if (msg.type === 'open') breaker.forceOpen();
      else if (msg.type === 'close') breaker.forceClose();
      else if (msg.type === 'cooldown' && typeof msg.until === 'number') {
        const ms = msg.until - Date.now();
        if (ms > 0) this.cooldowns.start(msg.model, ms);
      }
    } finally {
      this.#applyingRemote = false;
    }
  }
}
