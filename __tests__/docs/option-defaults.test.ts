/**
 * The README's Options table states the defaults of `OPTION_DEFAULTS`, and the resolver applies them: each default
 * a row states (in its default column, or as `{ key: value }` in its meaning) is the object's, and an option left
 * out resolves to it. Every engine default of the object is stated by some row.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OPTION_DEFAULTS } from '../../lib/core/options/option-defaults';
import { type ResolvableOptions, resolveOptions } from '../../lib/core/options/resolve-options';
import { markdownTable, sectionOf } from '../helpers/markdown-table';

const README = readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');

/** The sections of `OPTION_DEFAULTS` that are not `llmResilience`'s options (the README states them elsewhere). */
const OTHER_FUNCTIONS = new Set(['gateway', 'dashboard', 'redisStore', 'switchedOn']);

type Value = string | number | boolean | Record<string, unknown>;

/** A literal as the README writes it in a code span: a number, true/false, a quoted string or `{}`; else undefined. */
function literal(text: string): Value | undefined {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^'[^']*'$/.test(t)) return t.slice(1, -1);
  if (t === '{}') return {};
  return undefined;
}

/** The option's path in `OPTION_DEFAULTS` (`models[].timeoutMs` → models.timeoutMs). */
function keysOf(option: string): string[] {
  return option.replace('[]', '').split('.');
}

function at(root: unknown, keys: readonly string[]): unknown {
  let v: unknown = root;
  for (const k of keys) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * What an option left out resolves to (a model's option: the first model's); a field of a switch (`hedge.minSamples`)
 * with the switch on (`hedge: true`).
 */
function resolvedAt(option: string): unknown {
  const keys = keysOf(option);
  const on: Partial<ResolvableOptions> = keys.length > 1 && at(OPTION_DEFAULTS.switchedOn, [keys[0]]) !== undefined ? Object.fromEntries([[keys[0], true]]) : {};
  const resolved = resolveOptions({ models: [{ model: 'm', apiKey: 'k' }], cache: { semantic: { embeddingModel: 'e' } }, ...on });
  return keys[0] === 'models' ? at(resolved.models[0], keys.slice(1)) : at(resolved, keys);
}

interface Stated {
  option: string;
  /** Where in `OPTION_DEFAULTS`. */
  keys: string[];
  value: Value;
}

const { header, rows } = markdownTable(sectionOf(README, '## Options'));
const [optionCol, defaultCol, meaningCol] = ['option', 'default', 'meaning'].map((name) => header.indexOf(name));

/** Every default the table states as a value. */
function statedDefaults(): Stated[] {
  const stated: Stated[] = [];
  for (const cells of rows) {
    const option = /^`([^`]+)`$/.exec(cells[optionCol])?.[1];
    if (option === undefined) throw new Error(`an option cell that is not one code span: ${cells[optionCol]}`);
    // the default column: a value when it starts with a literal in a code span (`model`, `OPENAI_API_KEY` name others)
    const first = /^`([^`]+)`/.exec(cells[defaultCol])?.[1];
    const value = first === undefined ? undefined : literal(first);
    if (value !== undefined) stated.push({ option, keys: keysOf(option), value });
    // the meaning column: `{ key: value, … }` lists what the option's fields default to
    const switched = at(OPTION_DEFAULTS.switchedOn, [option]) !== undefined;
    for (const span of cells[meaningCol].matchAll(/`(\{[^`]*\})`/g)) {
      for (const m of span[1].matchAll(/(\w+): ([^,}]+)/g)) {
        const v = literal(m[2]);
        if (v === undefined) continue;
        const keys = switched ? ['switchedOn', option, m[1]] : [...keysOf(option), m[1]];
        stated.push({ option: `${option}.${m[1]}`, keys, value: v });
      }
    }
  }
  return stated;
}

const stated = statedDefaults();

/** Every leaf of `OPTION_DEFAULTS` that is one of `llmResilience`'s options. */
function engineLeaves(o: unknown, prefix: string[] = []): string[][] {
  if (o === null || typeof o !== 'object') return [prefix];
  return Object.entries(o).flatMap(([k, v]) => (prefix.length === 0 && OTHER_FUNCTIONS.has(k) ? [] : engineLeaves(v, [...prefix, k])));
}

describe('README Options table and OPTION_DEFAULTS', () => {
  it('the README states defaults, and the object is frozen all the way down', () => {
    expect(stated.length).toBeGreaterThan(20);
    expect(Object.isFrozen(OPTION_DEFAULTS)).toBe(true);
    expect(Object.isFrozen(OPTION_DEFAULTS.cache.semantic)).toBe(true);
    expect(Object.isFrozen(OPTION_DEFAULTS.switchedOn.hedge)).toBe(true);
  });

  it.each(stated.map((s) => [s.option, s] as const))('%s: the default the README states is OPTION_DEFAULTS\'s', (_o, s) => {
    const actual = at(OPTION_DEFAULTS, s.keys);
    if (typeof s.value === 'object') expect(actual !== null && typeof actual === 'object').toBe(true);
    else expect(actual).toBe(s.value);
  });

  it.each(stated.map((s) => [s.option, s] as const))('%s: an option left out resolves to it', (_o, s) => {
    const resolved = resolvedAt(s.keys[0] === 'switchedOn' ? s.keys.slice(1).join('.') : s.option);
    if (s.option === 'models[].provider') {
      expect(resolved).toBeUndefined(); // no provider of its own: the OpenAI-compatible one
    } else if (s.value === true && resolved !== null && typeof resolved === 'object') {
      expect(resolved).toEqual(at(OPTION_DEFAULTS.switchedOn, [s.option])); // a switch that is on: its fields' defaults
    } else if (typeof s.value === 'object') {
      expect(resolved !== null && typeof resolved === 'object').toBe(true); // `{}`: on, with its fields' defaults
    } else {
      expect(resolved).toBe(s.value);
    }
  });

  it('every default of an llmResilience option in OPTION_DEFAULTS is stated by the README', () => {
    const statedPaths = new Set(stated.map((s) => s.keys.join('.')));
    const leaves = [...engineLeaves(OPTION_DEFAULTS), ...engineLeaves(OPTION_DEFAULTS.switchedOn).map((k) => ['switchedOn', ...k])];
    const missing = leaves.map((k) => k.join('.')).filter((p) => !statedPaths.has(p));
    expect(missing).toEqual([]);
  });

  it('the defaults of the gateway, the dashboard and redisStore the README states in its prose are the object\'s', () => {
    const said = (re: RegExp): string => {
      const m = re.exec(README);
      if (!m) throw new Error(`the README no longer says ${re}`);
      return m[1];
    };
    expect(said(/`prefix` \(`([^`]*)`\), `llm`/)).toBe(OPTION_DEFAULTS.gateway.prefix);
    expect(Number(said(/`maxBodyBytes` \((\d+) MiB[;)]/)) * 1024 * 1024).toBe(OPTION_DEFAULTS.gateway.maxBodyBytes);
    expect(said(/`prefix` \(`([^`]*)`\) follows the gateway's rule/)).toBe(OPTION_DEFAULTS.dashboard.prefix);
    expect(Number(said(/`intervalMs` \(the feed's period, (\d+)\)/))).toBe(OPTION_DEFAULTS.dashboard.intervalMs);
    expect(Number(said(/`redisStore\(\{ timeoutMs \}\)`,\s+default (\d+) ms/))).toBe(OPTION_DEFAULTS.redisStore.timeoutMs);
  });
});
