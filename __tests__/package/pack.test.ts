/**
 * What `npm pack` puts in the package: the entry points, the licence and the changelog, and for every source map
 * (of the JavaScript and of the declarations) each source file it names, so that a stack trace or "go to
 * definition" in an app lands on a file that is there. Reads the built dist/ (`npm run build`, run by `npm ci`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function packedFiles(): Set<string> {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  return new Set(pack.files.map((f) => f.path));
}

describe('the packed package', () => {
  let files: Set<string>;
  beforeAll(() => {
    if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is not built: run `npm run build` first');
    files = packedFiles();
  });

  it('holds both entry points, their types, the licence and the changelog, and no tests, benches or CI files', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; types: string; exports: Record<string, unknown> };
    const entries = [pkg.main, pkg.types, ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e as Record<string, string>)))];
    for (const entry of entries) expect(files).toContain(path.posix.normalize(entry));
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']) expect(files).toContain(f);
    expect([...files].filter((f) => /^(__tests__|bench|\.ci|demo-app|docs|node_modules)\//.test(f))).toEqual([]);
  });

  it('ships every source file a source map names, and the map each compiled file points at', () => {
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(path.join(ROOT, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        const named = path.posix.normalize(path.posix.join(path.posix.dirname(map), sourceRoot ?? '', source));
        if (!files.has(named)) missing.push(`${map} → ${named}`);
      }
    }
    for (const file of [...files].filter((f) => /\.(js|d\.ts)$/.test(f) && f.startsWith('dist/'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(path.join(ROOT, file), 'utf8'))?.[1];
      if (url && !files.has(path.posix.join(path.posix.dirname(file), url))) missing.push(`${file} → ${url}`);
    }
    expect(missing).toEqual([]);
  });

  it('validates options and requests with the validators generated at build time, without loading ajv’s compiler', () => {
    expect(files).toContain('dist/core/validation/options-validator.generated.js');
    expect(files).toContain('dist/core/validation/request-validator.generated.js');
    const script = `
      const { llmResilience, ConfigError } = require('./dist');
      let problems = null;
      try { llmResilience({ models: [{ model: 'm', timeoutMs: -1 }], unknownOption: 1 }); } catch (e) { problems = e instanceof ConfigError ? e.problems : String(e); }
      const mw = llmResilience({ models: [{ name: 'm', model: 'm', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' }] });
      const loaded = Object.keys(require.cache).map((k) => k.slice(process.cwd().length));
      console.log(JSON.stringify({ problems, loaded }));
      void Promise.resolve(mw.close()); // then the process ends on its own: close() leaves nothing running
    `;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
    const { problems, loaded } = JSON.parse(out.trim().split('\n').pop() as string) as { problems: { path: string }[]; loaded: string[] };
    expect(problems.map((p) => p.path).sort()).toEqual(['/models/0/timeoutMs', '/unknownOption']);
    expect(loaded).toEqual(expect.arrayContaining(['/dist/core/validation/options-validator.generated.js', '/dist/core/validation/request-validator.generated.js']));
    expect(loaded.filter((f) => /\/node_modules\/ajv\/dist\/(ajv|core|compile\/)/.test(f))).toEqual([]);
  });
});
