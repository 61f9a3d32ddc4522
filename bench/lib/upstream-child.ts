/** Child process: the fake provider, in its own process so its CPU is not counted against the route under test. */
import { startFakeLlm, type FakeBehavior } from '../../lib/testing';

export type Phase = { atMs: number; model: string; behavior: FakeBehavior; label?: string };
export type ToChild =
  | { type: 'setBehavior'; model: string; behavior: FakeBehavior }
  | { type: 'schedule'; phases: Phase[] }
  | { type: 'stats'; id: number }
  | { type: 'resetRequests' };

async function main(): Promise<void> {
  const fake = await startFakeLlm({ behaviors: JSON.parse(process.env.FAKE_BEHAVIORS ?? '{}') as Record<string, FakeBehavior> });
  const timers: NodeJS.Timeout[] = [];
  process.on('message', (msg: ToChild) => {
    switch (msg.type) {
      case 'setBehavior':
        fake.setBehavior(msg.model, msg.behavior);
        break;
      case 'schedule':
        for (const p of msg.phases) timers.push(setTimeout(() => fake.setBehavior(p.model, p.behavior), p.atMs));
        break;
      case 'resetRequests':
        fake.resetRequests();
        break;
      case 'stats': {
        const models = [...new Set(fake.requests().map((r) => r.model))];
        process.send?.({ type: 'stats', id: msg.id, total: fake.stats(), byModel: Object.fromEntries(models.map((m) => [m, fake.stats(m)])) });
        break;
      }
    }
  });
  process.on('disconnect', () => {
    for (const t of timers) clearTimeout(t);
    void fake.close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready', url: fake.url });
}

void main();
