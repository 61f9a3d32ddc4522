import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

interface Finding {
  ruleId: string | null;
  line: number;
}

/**
 * Lints `code` as if it were the file at `filePath`, with the project's ESLint config, through ESLint's Node API
 * (in a child process: the config is an ES module, which jest's module sandbox does not load).
 */
function lint(cases: { filePath: string; code: string }[]): Finding[][] {
  const script = `
    const { ESLint } = require('eslint');
    (async () => {
      const eslint = new ESLint({ cwd: ${JSON.stringify(root)} });
      const out = [];
      for (const c of ${JSON.stringify(cases)}) {
        const [r] = await eslint.lintText(c.code, { filePath: c.filePath });
        out.push(r.messages.map((m) => ({ ruleId: m.ruleId, line: m.line })));
      }
      console.log(JSON.stringify(out));
    })();
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as Finding[][];
}

const restricted = (f: Finding[]): string[] => f.filter((m) => /restricted/.test(m.ruleId ?? '')).map((m) => m.ruleId as string);

describe('the core boundary (ESLint)', () => {
  const use = '\nexport const used = [x];\n';
  const violations = [
    "import x from 'openai';",
    "import type { ChatCompletionMessageParam as x } from 'openai/resources/chat/completions';",
    "import type { Middleware as x } from 'koa';",
    "import x from '@koa/router';",
    "import x from 'express';",
    "import x from '@anthropic-ai/sdk';",
    "import { x } from '@google/genai';",
    "import { openaiProvider as x } from '../../providers/openai/openai-provider';",
    "import type { LlmContext as x } from '../../koa/types';",
    "import { llmExpress as x } from '../../express/llm-express';",
    "import { x } from '../../http/sse-events';",
    "// eslint-disable-next-line @typescript-eslint/no-require-imports\nconst x = require('openai');",
    "type T = typeof import('openai'); const x: T | null = null;",
  ];

  it('fails a file under lib/core that imports a provider SDK, a framework, or reaches providers/frameworks', () => {
    const results = lint(violations.map((code) => ({ filePath: 'lib/core/provider/x.ts', code: code + use })));
    results.forEach((findings, i) => expect({ code: violations[i], restricted: restricted(findings).length > 0 }).toEqual({ code: violations[i], restricted: true }));
  });

  it('lets the core import itself, the public types and other packages, and lets lib/providers import openai', () => {
    const fine = [
      { filePath: 'lib/core/fallback/x.ts', code: "import { Providers as x } from '../provider/providers';" + use },
      { filePath: 'lib/core/fallback/x.ts', code: "import type { ChatMessage as x } from '../../types';" + use },
      { filePath: 'lib/core/x.ts', code: "import { LRUCache as x } from 'lru-cache';" + use },
      { filePath: 'lib/providers/openai/x.ts', code: "import x from 'openai';" + use },
      { filePath: 'lib/koa/x.ts', code: "import type { Middleware as x } from 'koa';" + use },
    ];
    for (const findings of lint(fine)) expect(findings).toEqual([]);
  });
});
