import { execFileSync } from 'node:child_process';
import path from 'node:path';

describe('loading the library', () => {
  it('does not load ioredis or prom-client until a shared store or metrics are used', () => {
    const root = path.join(__dirname, '..');
    const script = `
      require('./lib');
      const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + name + '/'));
      const before = { ioredis: loaded('ioredis'), promClient: loaded('prom-client'), openai: loaded('openai') };
      const { registerMetrics } = require('./lib');
      const { Registry } = require('prom-client');
      registerMetrics(new Registry(), { on: () => () => undefined, status: () => ({ models: [] }) });
      console.log(JSON.stringify({ before, promClientAfter: loaded('prom-client') }));
    `;
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, encoding: 'utf8' });
    const seen = JSON.parse(out.trim().split('\n').pop() as string) as { before: Record<string, boolean>; promClientAfter: boolean };
    expect(seen.before).toEqual({ ioredis: false, promClient: false, openai: true });
    expect(seen.promClientAfter).toBe(true);
  });
});
