/**
 * The README's table "What happens to each failure" and the code's `OUTCOME_TABLE` say the same thing: every row
 * names one kind, every kind has one row, and the row's outcome, next-model and breaker columns are the table's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type AttemptKindName, OUTCOME_TABLE } from '../../lib/core/fallback/outcome-table';
import { markdownTable, sectionOf } from '../helpers/markdown-table';

const README = readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');

interface Row {
  kind: string;
  outcome: string;
  nextModel: string;
  breaker: string;
  whole: string;
}

function failureRows(): Row[] {
  const { header, rows } = markdownTable(sectionOf(README, '### What happens to each failure'));
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`the failure table has no column "${name}"`);
    return i;
  };
  const [kind, outcome, next, breaker] = [col('kind'), col('outcome'), col('next model?'), col('breaker failure?')];
  return rows.map((cells) => ({ kind: cells[kind], outcome: cells[outcome], nextModel: cells[next], breaker: cells[breaker], whole: cells.join(' | ') }));
}

/** The text of each `code span` of a cell. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

/** What a "next model?" cell says: yes, no, or — (moot: another model's answer is used). */
function nextModelOf(cell: string): string {
  if (/^yes\b/i.test(cell)) return 'yes';
  if (/^no\b/i.test(cell)) return 'no';
  if (/^—/.test(cell)) return 'moot';
  throw new Error(`cannot read "next model?" from: ${cell}`);
}

function yesNo(cell: string): boolean {
  if (/^yes\b/i.test(cell)) return true;
  if (/^no\b/i.test(cell)) return false;
  throw new Error(`cannot read yes or no from: ${cell}`);
}

const rows = failureRows();
const kindOf = (r: Row): AttemptKindName => {
  const spans = codeSpans(r.kind);
  expect(spans).toHaveLength(1);
  return spans[0] as AttemptKindName;
};

describe('README "What happens to each failure" and OUTCOME_TABLE', () => {
  it('the README has the table, with a row for every kind of the code, and each row names exactly one of them', () => {
    expect(rows.length).toBeGreaterThan(0);
    const named = rows.map(kindOf);
    for (const k of named) expect(Object.keys(OUTCOME_TABLE)).toContain(k);
    expect([...named].sort()).toEqual(Object.keys(OUTCOME_TABLE).sort());
  });

  it.each(rows.map((r) => [codeSpans(r.kind)[0] ?? r.kind, r] as const))('%s: outcome, next model and breaker failure are what the code decides', (_k, r) => {
    const c = OUTCOME_TABLE[kindOf(r)];
    expect(codeSpans(r.outcome)[0]).toBe(c.outcome);
    expect(nextModelOf(r.nextModel)).toBe(c.nextModel);
    expect(yesNo(r.breaker)).toBe(c.breakerFailure);
  });

  it.each(rows.map((r) => [codeSpans(r.kind)[0] ?? r.kind, r] as const))('%s: what the row says of caching, cool-downs, calls and probes is what the code decides', (_k, r) => {
    const c = OUTCOME_TABLE[kindOf(r)];
    if (/never cached/.test(r.whole)) expect(c.cacheable).toBe(false);
    // a row of a cacheable kind says so (and no row says "cached" of a kind that is not)
    expect(/(?<!never )cached/.test(r.whole)).toBe(c.cacheable);
    expect(r.outcome.includes('`latencyMs: 0`')).toBe(!c.upstreamCalled);
    expect(r.breaker.includes('cool-down')).toBe(c.coolDown);
    expect(r.nextModel.includes('skipping models whose `contextWindow` is not larger')).toBe(c.learnsContextWindow);
    expect(r.breaker.includes('proved nothing')).toBe(c.provesNothing !== false);
  });
});
