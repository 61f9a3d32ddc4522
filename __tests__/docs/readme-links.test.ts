/**
 * The package's documents, as a user reads them on the package's page: every relative link names a file of the
 * repository, every anchor names a heading of the page it points into, and the text speaks of the library, not of
 * how it was made (no work periods, tracker numbers, commit hashes or files outside the repository).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** The documents checked: the README, the benchmarks' README and pages, and the changelog when there is one. */
function documents(): string[] {
  const results = path.join(ROOT, 'bench', 'results');
  const pages = existsSync(results) ? readdirSync(results).filter((f) => f.endsWith('.md')).map((f) => path.join('bench', 'results', f)) : [];
  return ['README.md', path.join('bench', 'README.md'), 'CHANGELOG.md', ...pages].filter((f) => existsSync(path.join(ROOT, f)));
}

/** The text outside fenced code blocks (a `# comment` in a shell block is not a heading, a `[x](y)` in code not a link). */
function prose(markdown: string): string {
  const out: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      out.push('');
      continue;
    }
    out.push(fence === null ? line : '');
  }
  return out.join('\n');
}

/** GitHub's (and npm's) heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of prose(markdown).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every link and image target of a page: `[text](target)` and `![alt](target "title")`. */
export function linksOf(markdown: string): string[] {
  const links: string[] = [];
  const re = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
  for (const m of prose(markdown).matchAll(re)) links.push(m[1]);
  return links;
}

/** What is wrong with one link of the page `from` (a path relative to the repository), or null. */
export function brokenLink(from: string, target: string, read: (file: string) => string | null = readRepoFile): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto:: not the repository's
  const [filePart, anchor] = splitAnchor(target);
  let file = from;
  if (filePart !== '') {
    if (filePart.startsWith('/')) return `${target}: a root-relative link does not resolve on the package's page`;
    file = path.posix.normalize(path.posix.join(path.posix.dirname(from.split(path.sep).join('/')), decodeURI(filePart)));
    if (file.startsWith('..')) return `${target}: points outside the repository`;
    if (!existsSync(path.join(ROOT, file))) return `${target}: no such file in the repository`;
  }
  if (anchor === undefined) return null;
  if (!file.endsWith('.md')) return null;
  const text = read(file);
  if (text === null) return `${target}: cannot read ${file}`;
  return anchorsOf(text).has(decodeURIComponent(anchor).toLowerCase()) ? null : `${target}: no heading with the anchor #${anchor} in ${file}`;
}

function splitAnchor(target: string): [string, string | undefined] {
  const i = target.indexOf('#');
  return i < 0 ? [target, undefined] : [target.slice(0, i), target.slice(i + 1)];
}

function readRepoFile(file: string): string | null {
  const full = path.join(ROOT, file);
  return existsSync(full) && statSync(full).isFile() ? readFileSync(full, 'utf8') : null;
}

/**
 * Words that tell how the code was made rather than what it does. A commit-like token is 7–40 hex digits with at
 * least one letter and one digit (a plain number, as the results' tables are full of, is not one).
 */
const NARRATIVE: Array<[RegExp, string]> = [
  [/\bsessions?\b/i, 'a work session'],
  [/\bissues?\s*#\s*\d+/i, 'a tracker number'],
  [/\.\.\/shared\b/, 'a file outside the repository'],
  [/\bBENCHMARKS\.md\b/, 'a file outside the repository'],
  [/(?<![\w./-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![\w/-])/, 'a commit hash'],
];

export function narrativeIn(markdown: string): string[] {
  const found: string[] = [];
  markdown.split('\n').forEach((line, i) => {
    for (const [re, what] of NARRATIVE) {
      const m = re.exec(line);
      if (m) found.push(`line ${i + 1}: ${what} ("${m[0]}")`);
    }
  });
  return found;
}

describe('the package documents', () => {
  const docs = documents();

  it('include the README and the benchmarks README', () => {
    expect(docs).toEqual(expect.arrayContaining(['README.md', path.join('bench', 'README.md')]));
  });

  it.each(docs)('%s: every relative link names a file of the repository, every anchor a heading', (doc) => {
    const text = readFileSync(path.join(ROOT, doc), 'utf8');
    const broken = linksOf(text)
      .map((target) => brokenLink(doc, target))
      .filter((problem): problem is string => problem !== null);
    expect(broken).toEqual([]);
  });

  it.each(docs)('%s: speaks of the library, not of how it was made', (doc) => {
    expect(narrativeIn(readFileSync(path.join(ROOT, doc), 'utf8'))).toEqual([]);
  });

  it('the README keeps the test command CI runs in its set-up block', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.some((b) => /^npm test\b/m.test(b) && /redis/i.test(b) && /chromium/i.test(b))).toBe(true);
  });
});

describe('the document checks themselves', () => {
  const page = ['# Title', '## `ctx.llm.complete(request)`', '## Express (or any Node `(req, res, next)` stack)', '## Set up', '## Set up', '```bash', '# not a heading', '[in code](#nowhere)', '```', '[ok](#set-up-1)'].join('\n');

  it('make anchors as the package page does (punctuation dropped, repeats numbered, code blocks skipped)', () => {
    expect([...anchorsOf(page)]).toEqual(['title', 'ctxllmcompleterequest', 'express-or-any-node-req-res-next-stack', 'set-up', 'set-up-1']);
  });

  it('find links outside code blocks only', () => {
    expect(linksOf(page)).toEqual(['#set-up-1']);
  });

  it('report a missing file, a missing anchor, a link out of the repository, and pass good ones', () => {
    const read = (file: string) => (file === 'README.md' ? page : null);
    expect(brokenLink('README.md', '#set-up-1', read)).toBeNull();
    expect(brokenLink('README.md', '#set-up-2', read)).toMatch(/no heading/);
    expect(brokenLink('README.md', 'no-such-file.md', read)).toMatch(/no such file/);
    expect(brokenLink('README.md', '../shared/BENCHMARKS.md', read)).toMatch(/outside the repository/);
    expect(brokenLink('README.md', '/docs/dashboard.png', read)).toMatch(/root-relative/);
    expect(brokenLink('README.md', 'docs/dashboard.png', read)).toBeNull();
    expect(brokenLink('bench/README.md', 'results/overhead.md#0-pure-cpu-per-call-the-same-stub-fetch-under-every-variant-no-network-concurrency-1')).toBeNull();
    expect(brokenLink('README.md', 'https://example.com/x#y', read)).toBeNull();
  });

  it('flag narrative words and commit-like tokens, not numbers, hashes named as such or words', () => {
    expect(narrativeIn('The last session measured it.')).toHaveLength(1);
    expect(narrativeIn('See issue #4.')).toHaveLength(1);
    expect(narrativeIn('declared in 2cd6eff before it ran')).toHaveLength(1);
    expect(narrativeIn('on the code of ebce16c')).toHaveLength(1);
    expect(narrativeIn('as ../shared/BENCHMARKS.md says')).toHaveLength(2);
    expect(narrativeIn('66164 requests, 1959969 instructions, a decade, the cafe, #667085, sha256 of the text')).toEqual([]);
  });
});
