import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const script = path.join(__dirname, '..', '..', 'scripts', 'check-cycles.js');

/** Runs the checker on `dir`: its exit code and what it printed. */
function check(dir: string, ...flags: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [script, ...flags, dir], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout + e.stderr };
  }
}

describe('scripts/check-cycles.js', () => {
  let dir: string;
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'klr-cycles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('passes a tree without cycles', () => {
    write('a.ts', "import { b } from './sub/b';\nexport const a = b;\n");
    write('sub/b.ts', "import { c } from '../c';\nexport const b = c;\n");
    write('c.ts', 'export const c = 1;\n');
    expect(check(dir)).toMatchObject({ code: 0 });
  });

  it('fails a cycle through three files (with an index import and a re-export), naming the files in order', () => {
    write('a.ts', "import { b } from './sub';\nexport const a = () => b;\n");
    write('sub/index.ts', "export { b } from './b';\n");
    write('sub/b.ts', "import { c } from '../c';\nexport const b = () => c;\n");
    write('c.ts', "import { a } from './a';\nexport const c = () => a;\n");
    const r = check(dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('import cycle: a.ts → sub/index.ts → sub/b.ts → c.ts → a.ts'.replace(/[a-z/]+\.ts/g, (f) => path.relative(path.join(__dirname, '..', '..'), path.join(dir, f))));
  });

  it('finds a cycle through require() too', () => {
    write('a.ts', "export const a = () => require('./b');\n");
    write('b.ts', "import { a } from './a';\nexport const b = a;\n");
    expect(check(dir).code).toBe(1);
  });

  it('ignores type-only imports unless asked (--types)', () => {
    write('a.ts', "import type { B } from './b';\nexport interface A { b?: B }\n");
    write('b.ts', "import { type A } from './a';\nexport interface B { a?: A }\nexport const b = 1;\n");
    expect(check(dir)).toMatchObject({ code: 0 });
    expect(check(dir, '--types').code).toBe(1);
  });
});
