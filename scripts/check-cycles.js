'use strict';
/* global require, module, process, __dirname, console */
/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * Part of `npm run lint`: fails when the modules under lib/ import each other in a cycle. Imports are read and
 * resolved with the TypeScript compiler API (`import`, `export … from`, `import x = require()`, `require()` and
 * `import()` with a literal specifier). Type-only imports (`import type`, `export type`, and `import { type A }`
 * whose every name is a type) are ignored: the compiler erases them, so they make no cycle at run time. Pass
 * `--types` to count them too.
 *
 * Usage: node scripts/check-cycles.js [--types] [dir …]   (default dir: lib)
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

/** Every .ts file under `dir` (no .d.ts). */
function sourceFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Whether an import or export declaration brings in values (not only types). */
function bringsValues(node) {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (!clause) return true; // `import './x'`: for its side effects
    if (clause.isTypeOnly) return false;
    if (clause.name) return true;
    const bindings = clause.namedBindings;
    if (!bindings || ts.isNamespaceImport(bindings)) return true;
    return bindings.elements.length === 0 || bindings.elements.some((e) => !e.isTypeOnly);
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return false;
    const clause = node.exportClause;
    if (!clause || ts.isNamespaceExport(clause)) return true;
    return clause.elements.length === 0 || clause.elements.some((e) => !e.isTypeOnly);
  }
  return true;
}

/** The specifiers a file imports (values only, unless `withTypes`). */
function importsOf(file, withTypes) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (withTypes || bringsValues(node)) specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      if (withTypes || !node.isTypeOnly) specifiers.push(node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      if ((ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword) specifiers.push(node.arguments[0].text);
    } else if (withTypes && ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** The import graph of the files under `dirs`: file → files (under those dirs) it imports. */
function importGraph(dirs, { withTypes = false, compilerOptions = { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, resolveJsonModule: true } } = {}) {
  const files = dirs.flatMap((d) => sourceFiles(path.resolve(d)));
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const edges = new Set();
    for (const spec of importsOf(file, withTypes)) {
      const resolved = ts.resolveModuleName(spec, file, compilerOptions, ts.sys).resolvedModule;
      const target = resolved && path.resolve(resolved.resolvedFileName);
      if (target && known.has(target) && target !== file) edges.add(target);
    }
    graph.set(file, [...edges].sort());
  }
  return graph;
}

/** The cycles of a graph: each strongly connected component of more than one file, as one cycle through it. */
function cyclesOf(graph) {
  // Tarjan's algorithm, iterative (deep import chains would overflow a recursive one)
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work = [[start, 0]];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const edges = graph.get(v) ?? [];
      if (i < edges.length) {
        frame[1]++;
        const w = edges[i];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === index.get(v)) {
        const component = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1) components.push(component);
      }
    }
  }
  return components.map((c) => cycleThrough(graph, new Set(c)));
}

/** One cycle inside a strongly connected component (a shortest way back to its first file), for the report. */
function cycleThrough(graph, members) {
  const first = [...members].sort()[0];
  const from = new Map([[first, null]]);
  const queue = [first];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === first) {
        const cycle = [];
        for (let x = v; x !== null; x = from.get(x)) cycle.unshift(x);
        return [...cycle, first];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [first, first];
}

/** The import cycles among the files under `dirs` (each a list of files, ending where it began). */
function findCycles(dirs, options) {
  return cyclesOf(importGraph(dirs, options));
}

module.exports = { findCycles, importGraph, cyclesOf };

if (require.main === module) {
  const args = process.argv.slice(2);
  const withTypes = args.includes('--types');
  const dirs = args.filter((a) => !a.startsWith('--'));
  const root = path.join(__dirname, '..');
  const cycles = findCycles(dirs.length > 0 ? dirs : [path.join(root, 'lib')], { withTypes });
  if (cycles.length === 0) {
    console.log(`check-cycles: no import cycle${withTypes ? '' : ' (type-only imports ignored)'}`);
  } else {
    for (const c of cycles) console.error(`import cycle: ${c.map((f) => path.relative(root, f)).join(' → ')}`);
    process.exitCode = 1;
  }
}
