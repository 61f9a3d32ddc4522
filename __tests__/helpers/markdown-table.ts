/** Reading the README's tables as its reader sees them. */

/** The text of the section that starts at `heading` (a whole heading line), up to the next heading of any level. */
export function sectionOf(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const end = lines.findIndex((l, i) => i > start && /^#{1,6}\s/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** Splits a table line into its cells: `|` separates them, `\|` is a `|` inside a cell. */
function cellsOf(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** The first table of a section: its header cells and its rows' cells (the `|---|` line dropped). */
export function markdownTable(section: string): { header: string[]; rows: string[][] } {
  const lines = section.split('\n');
  const first = lines.findIndex((l) => l.trim().startsWith('|'));
  if (first < 0) throw new Error('no table in the section');
  const table: string[] = [];
  for (let i = first; i < lines.length && lines[i].trim().startsWith('|'); i++) table.push(lines[i]);
  const [head, rule, ...body] = table;
  if (!rule || !/^\|?\s*:?-{3,}/.test(rule.trim())) throw new Error('a table needs a |---| line under its header');
  const header = cellsOf(head);
  const rows = body.map(cellsOf);
  for (const r of rows) if (r.length !== header.length) throw new Error(`a row has ${r.length} cells, the header ${header.length}: ${r.join(' | ')}`);
  return { header, rows };
}
