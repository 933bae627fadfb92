// Keeps docs/ honest: links resolve, the index lists every page, tables are well formed, every
// TypeScript block compiles, and the reference pages cover every config key and error code.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, ErrorCodes, envName } from '../../core/index.js';
import { checkPages, type Diagnostic, type Page } from './doc-blocks.js';

const root = resolve(import.meta.dirname, '..', '..');
const docsDir = join(root, 'docs');
/** Pages other engineers are writing; links to them are allowed before they exist. */
const PENDING = ['redis.md', 'rabbitmq.md', 'swapping-brokers.md', 'pino.md', 'logging.md', 'integrations.md', 'benchmarks.md'];

const pages = readdirSync(docsDir).filter((f) => f.endsWith('.md'));
const read = (file: string): string => readFileSync(file, 'utf8');
/** Markdown without fenced code blocks, where `[x](y)` is code, not a link. */
const prose = (text: string): string => text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
const links = (text: string): string[] => [...prose(text).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

/**
 * Pages that must not compile: they prove the check fails when a block breaks. They are checked in
 * the same program as the real pages, so the test stays one compilation.
 */
const BROKEN: Page[] = [
  { name: 'broken/type.md', text: "```ts\nimport { QueueTasks } from 'qtasks';\nconst app = new QueueTasks({ name: 'x' });\nconst n: number = app.name;\n```\n" },
  { name: 'broken/syntax.md', text: "```ts\nimport { QueueTasks } from 'qtasks';\nnew QueueTasks({ name: 'x', plugins: [...] });\n```\n" },
  { name: 'broken/fragment.md', text: '# A fragment without its context\n\n```ts\napp.logLevel = "debug";\n```\n' },
  { name: 'broken/deep-import.md', text: "```ts\nimport { QueueTasks } from 'qtasks/core/app.js';\n```\n" },
  { name: 'broken/repo-import.md', text: "```ts\nimport { arrayBroker } from '@repo/examples/custom-broker.js';\narrayBroker();\n```\n" },
  { name: 'broken/relative-import.md', text: "```ts\nimport { QueueTasks } from '../../../core/index.js';\nnew QueueTasks({ name: 'x' });\n```\n" },
  {
    name: 'broken/context.md',
    text: "<!-- ts-context\nimport { QueueTasks } from 'qtasks';\nconst app = new QueueTasks({ name: 'x' });\n-->\n\n```ts\nconst n: number = app.name;\n```\n\n```ts context=none\napp.logLevel = 'debug';\n```\n\n```ts context=missing\n```\n",
  },
  {
    name: 'broken/decorators.md',
    text: "```ts\nimport { Task } from 'qtasks/nestjs';\nclass A {\n  @Task({ name: 'a' })\n  a(n: number): number {\n    return n;\n  }\n}\nexport { A };\n```\n\n```ts decorators=legacy\nimport { Task } from 'qtasks/nestjs';\nclass B {\n  @Task({ name: 'b' })\n  b(n: number): number {\n    return n;\n  }\n}\nexport { B };\n```\n\n```ts decorators=stage3\n```\n",
  },
  { name: 'broken/strict.md', text: "```ts\nimport type { AddTaskOptions } from 'qtasks';\nconst o: AddTaskOptions = { timeout: undefined };\nconst xs: number[] = [];\nconst n: number = xs[0];\n```\n" },
];
const DOC_PAGES = ['README.md', ...pages.map((p) => `docs/${p}`)];
let checked: { diagnostics: Diagnostic[]; blocks: number } | undefined;
/** One compiler program for every block of every page (and the broken fixtures). */
function blocks(): { diagnostics: Diagnostic[]; blocks: number } {
  checked ??= checkPages([...DOC_PAGES.map((name) => ({ name, text: read(join(root, name)) })), ...BROKEN]);
  return checked;
}
const report = (ds: Diagnostic[]): string[] => ds.map((d) => `${d.page}:${d.line}: ${d.message}`);

describe('TypeScript blocks in README.md and docs/', () => {
  it('every block compiles under strict settings, importing qtasks through its entry points', () => {
    const { diagnostics } = blocks();
    expect(report(diagnostics.filter((d) => !d.page.startsWith('broken/')))).toEqual([]);
  }, 60_000);

  it('the check sees every block', () => {
    const fences = DOC_PAGES.map((name) => [...read(join(root, name)).matchAll(/^[ \t]*```(ts|typescript)\b/gm)].length).reduce((a, b) => a + b, 0);
    expect(fences).toBeGreaterThan(30);
    expect(blocks().blocks).toBe(fences + BROKEN.map((p) => [...p.text.matchAll(/^```ts/gm)].length).reduce((a, b) => a + b, 0));
  }, 60_000);

  it('fails on a broken block: a type error, a syntax error, a missing context, a deep import, strict flags', () => {
    const broken = report(blocks().diagnostics.filter((d) => d.page.startsWith('broken/')));
    const expected = [
      /^broken\/context\.md:7: Type 'string' is not assignable to type 'number'/,
      /^broken\/context\.md:11: Cannot find name 'app'/,
      /^broken\/context\.md:15: no ts-context named missing/,
      /^broken\/decorators\.md:4: Unable to resolve signature of method decorator/,
      /^broken\/decorators\.md:24: decorators=stage3: only decorators=legacy is known/,
      /^broken\/deep-import\.md:2: Cannot find module 'qtasks\/core\/app\.js'/,
      /^broken\/fragment\.md:4: Cannot find name 'app'/,
      /^broken\/repo-import\.md:2: @repo\/examples\/custom-broker\.js: blocks import qtasks as a user does/,
      /^broken\/relative-import\.md:2: \.\.\/\.\.\/\.\.\/core\/index\.js: blocks import qtasks as a user does/,
      /^broken\/strict\.md:3: .*exactOptionalPropertyTypes/,
      /^broken\/strict\.md:5: Type 'number \| undefined' is not assignable to type 'number'/,
      /^broken\/syntax\.md:3: Expression expected/,
      /^broken\/type\.md:4: Type 'string' is not assignable to type 'number'/,
    ];
    for (const re of expected) expect(broken.some((line) => re.test(line)), `${re} in\n${broken.join('\n')}`).toBe(true);
    // The same method decorator compiles in a decorators=legacy block.
    expect(broken.filter((line) => line.startsWith('broken/decorators.md:1') && !line.startsWith('broken/decorators.md:1:'))).toEqual([]);
  }, 60_000);
});

describe('docs/', () => {
  it.each(pages)('%s: every relative link points at a file (or a page being written) and a real heading', (page) => {
    const file = join(docsDir, page);
    const text = read(file);
    const broken: string[] = [];
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : resolve(dirname(file), path);
      if (!existsSync(target)) {
        const pending = dirname(target) === docsDir && PENDING.includes(relative(docsDir, target));
        if (!pending) broken.push(`${link} (no such file)`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchors(read(target)).has(anchor)) broken.push(`${link} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it.each(['README.md', ...pages.map((p) => `docs/${p}`)])('%s: every table row has as many cells as its header', (page) => {
    const bad: string[] = [];
    // Code blocks blanked line for line, so row numbers are the page's.
    const lines = read(join(root, page)).replace(/^```[^\n]*\n[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, '')).split('\n');
    const cells = (line: string): number => line.replace(/\\\|/g, '').replace(/`[^`]*`/g, '``').split('|').length - 2;
    let width = -1;
    lines.forEach((line, i) => {
      if (!line.startsWith('|')) return void (width = -1);
      if (width === -1) width = cells(line);
      else if (cells(line) !== width) bad.push(`row ${i + 1}: ${cells(line)} cells, header has ${width}: ${line.slice(0, 60)}`);
    });
    expect(bad).toEqual([]);
  });

  it('README.md indexes every page, and every page being written', () => {
    const linked = new Set(links(read(join(docsDir, 'README.md'))).map((l) => l.split('#')[0]));
    const missing = [...pages.filter((p) => p !== 'README.md'), ...PENDING].filter((p) => !linked.has(p));
    expect(missing).toEqual([]);
  });

  it('configuration.md covers every config key with its variable, in the order of DEFAULT_CONFIG', () => {
    const text = read(join(docsDir, 'configuration.md'));
    const rows = [...text.matchAll(/^\| `([a-zA-Z]+)` \| .*? \| (`QTASKS_[A-Z_]+`|\(none\)) \|/gm)].map((m) => [m[1], m[2]]);
    // envPrefix is the one key no variable sets.
    expect(rows).toEqual(Object.keys(DEFAULT_CONFIG).map((key) => [key, key === 'envPrefix' ? '(none)' : `\`QTASKS_${envName(key)}\``]));
  });

  it('errors.md covers every error code, in the order of ErrorCodes', () => {
    const text = read(join(docsDir, 'errors.md'));
    const rows = [...text.matchAll(/^\| `([A-Z_]+)` \| `(QTASKS_ERR_[A-Z_]+)` \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(Object.entries(ErrorCodes));
  });

  it('no page tells users to run a worker through npx (npm does not pass SIGTERM on)', () => {
    const found = DOC_PAGES.flatMap((page) => [...read(join(root, page)).matchAll(/npx qtasks run -A[^\n]*/g)].map((m) => `${page}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it('every example the docs name exists', () => {
    for (const page of pages) {
      for (const m of read(join(docsDir, page)).matchAll(/examples\/[\w-]+\.ts/g)) {
        expect(statSync(join(root, m[0])).isFile(), `${page}: ${m[0]}`).toBe(true);
      }
    }
  });
});
