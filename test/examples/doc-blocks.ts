/**
 * Type-checks the TypeScript blocks of Markdown pages, all pages in one compiler program.
 *
 * The conventions (documented for writers in docs/README.md, "Code blocks compile"):
 * - Every ```ts (or ```typescript) block is a module of its own, importing qtasks through the
 *   package's entry points (`qtasks`, `qtasks/redis`, ...) as a user would.
 * - A fragment gets its missing names from a context, an HTML comment the reader does not see:
 *   `<!-- ts-context` + code + `-->` is the page's default context, prepended to each of its blocks;
 *   `<!-- ts-context NAME` ... `-->` is a named one, prepended after the default to a block whose
 *   info string says `context=NAME` (several: `context=a,b`). `context=none` leaves out the
 *   default (a complete program); `context=none,NAME` uses only NAME.
 * - ```ts decorators=legacy compiles the block with experimentalDecorators and emitDecoratorMetadata
 *   (what NestJS needs), in a program of its own.
 * - ```ts file=path/name.ts makes a block that file, so other blocks of the page import it as
 *   `./path/name.js`; `<!-- ts-file path/name.ts` ... `-->` is such a file the reader does not see.
 *   Hidden code may reach the repository's own modules as `@repo/examples/x.js`; blocks may not.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import ts from 'typescript';

export const root = resolve(import.meta.dirname, '..', '..');

/** What a user with strict settings has, plus the flags that make optional and indexed types honest. */
export const STRICT_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noImplicitReturns: true,
  noFallthroughCasesInSwitch: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
};

export interface Page {
  /** Path relative to the repository root, for messages: `docs/logging.md`. */
  name: string;
  text: string;
}

interface Block {
  page: string;
  /** 1-based line in the page of the first code line. */
  line: number;
  code: string;
  visible: boolean;
  /** Virtual file name inside the page's folder. */
  file: string;
  contexts: string[] | undefined;
  /** `decorators=legacy`: compiled with experimentalDecorators and emitDecoratorMetadata (NestJS). */
  legacyDecorators: boolean;
}

export interface Diagnostic {
  page: string;
  line: number;
  message: string;
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** The blocks and contexts of one page. */
export function parsePage(page: Page): { blocks: Block[]; contexts: Map<string, { code: string; line: number }>; errors: Diagnostic[] } {
  const blocks: Block[] = [];
  const contexts = new Map<string, { code: string; line: number }>();
  const errors: Diagnostic[] = [];
  // Fences may be indented (inside a list item); the closing fence matches the opening indent.
  const fence = /^([ \t]*)(`{3,})([^\n`]*)\n([\s\S]*?)^\1\2[ \t]*$/gm;
  const comment = /^<!--[ \t]*ts-(context|file)\b[ \t]*([^\n]*)\n([\s\S]*?)^-->[ \t]*$/gm;
  for (const m of page.text.matchAll(comment)) {
    const [, kind, arg = '', code = ''] = m;
    const line = lineOf(page.text, m.index) + 1;
    if (kind === 'context') {
      const name = arg.trim() === '' ? 'default' : arg.trim();
      if (contexts.has(name)) errors.push({ page: page.name, line, message: `ts-context ${name} is defined twice` });
      contexts.set(name, { code, line });
    } else {
      blocks.push({ page: page.name, line, code, visible: false, file: arg.trim(), contexts: ['none'], legacyDecorators: false });
    }
  }
  for (const m of page.text.matchAll(fence)) {
    const [, indent = '', , info = '', body = ''] = m;
    const words = info.trim().split(/\s+/);
    if (!['ts', 'typescript'].includes(words[0] ?? '')) continue;
    const attrs = new Map(words.slice(1).map((w) => w.split('=') as [string, string]));
    const line = lineOf(page.text, m.index) + 1;
    const code = body.split('\n').map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n');
    const file = attrs.get('file') ?? `block-L${line}.ts`;
    const decorators = attrs.get('decorators');
    if (decorators !== undefined && decorators !== 'legacy') errors.push({ page: page.name, line, message: `decorators=${decorators}: only decorators=legacy is known` });
    blocks.push({ page: page.name, line, code, visible: true, file, contexts: attrs.get('context')?.split(','), legacyDecorators: decorators === 'legacy' });
  }
  for (const b of blocks) {
    if (!b.file.endsWith('.ts')) errors.push({ page: page.name, line: b.line, message: `file=${b.file} must end in .ts` });
    for (const c of b.contexts ?? []) {
      if (c !== 'none' && !contexts.has(c)) errors.push({ page: page.name, line: b.line, message: `no ts-context named ${c} on this page` });
    }
  }
  return { blocks, contexts, errors };
}

/** `qtasks` and `qtasks/x` mapped to the sources behind the package's exports. */
function entryPoints(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { types?: string }> };
  const paths: Record<string, string[]> = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? target : target.types;
    if (types === undefined || !types.endsWith('.d.ts')) continue;
    const source = types.replace(/^\.\/dist\//, './').replace(/\.d\.ts$/, '.ts');
    paths[sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`] = [source];
  }
  return paths;
}

const VIRTUAL = join(root, '.doc-blocks');

/** Compiles every TypeScript block of the pages in one program; returns what does not compile. */
export function checkPages(pages: Page[]): { diagnostics: Diagnostic[]; blocks: number } {
  const files = new Map<string, { block: Block; prefixLines: number; text: string; contextLine: number; contextLines: number }>();
  const diagnostics: Diagnostic[] = [];
  let count = 0;
  for (const page of pages) {
    const parsed = parsePage(page);
    diagnostics.push(...parsed.errors);
    const dir = join(VIRTUAL, page.name.replace(/\.md$/, ''));
    for (const block of parsed.blocks) {
      if (block.visible) count++;
      const named = block.contexts ?? [];
      const names = named.includes('none') || !parsed.contexts.has('default') ? named : ['default', ...named];
      const used = names.filter((n) => n !== 'none').map((n) => parsed.contexts.get(n)).filter((c) => c !== undefined);
      const prefix = used.map((c) => c.code).join('');
      const path = join(dir, block.file);
      if (files.has(path)) diagnostics.push({ page: page.name, line: block.line, message: `${block.file} is defined twice` });
      files.set(path, {
        block,
        prefixLines: prefix.split('\n').length - 1,
        text: prefix + block.code,
        contextLine: used[0]?.line ?? 0,
        contextLines: prefix.split('\n').length - 1,
      });
    }
  }

  const options: ts.CompilerOptions = { ...STRICT_OPTIONS, baseUrl: root, paths: { ...entryPoints(), '@repo/*': ['./*'] } };
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile, directoryExists } = host;
  host.fileExists = (f) => files.has(resolve(f)) || fileExists.call(host, f);
  host.readFile = (f) => files.get(resolve(f))?.text ?? readFile.call(host, f);
  host.directoryExists = (d) => resolve(d).startsWith(VIRTUAL) || (directoryExists?.call(host, d) ?? true);
  host.getSourceFile = (f, lang, ...rest) => {
    const v = files.get(resolve(f));
    return v !== undefined ? ts.createSourceFile(f, v.text, lang, true) : getSourceFile.call(host, f, lang, ...rest);
  };
  // NestJS blocks need the decorators Nest uses, which change how every decorator compiles: a
  // second program for them, so the other blocks stay under the settings most users have.
  const roots = (legacy: boolean): string[] => [...files].filter(([, v]) => v.block.legacyDecorators === legacy).map(([path]) => path);
  const program = ts.createProgram(roots(false), options, host);
  const legacyRoots = roots(true);
  const legacyProgram = legacyRoots.length === 0 ? program : ts.createProgram(legacyRoots, { ...options, experimentalDecorators: true, emitDecoratorMetadata: true }, host);

  for (const [path, v] of files) {
    const sf = (v.block.legacyDecorators ? legacyProgram : program).getSourceFile(path);
    if (sf === undefined) continue;
    const owner = v.block.legacyDecorators ? legacyProgram : program;
    const found = [...owner.getSyntacticDiagnostics(sf), ...owner.getSemanticDiagnostics(sf)];
    // Only hidden code may reach into the repository; blocks import what a user can.
    if (v.block.visible) {
      for (const s of sf.statements) {
        if (!ts.isImportDeclaration(s) && !ts.isExportDeclaration(s)) continue;
        const spec = s.moduleSpecifier;
        if (spec === undefined || !ts.isStringLiteral(spec) || s.getStart(sf) < v.text.length - v.block.code.length) continue;
        const outside = spec.text.startsWith('.') && !resolve(dirname(path), spec.text).startsWith(VIRTUAL + sep);
        if (spec.text.startsWith('@repo/') || outside) {
          diagnostics.push({ page: v.block.page, line: v.block.line + sf.getLineAndCharacterOfPosition(s.getStart(sf)).line - v.prefixLines, message: `${spec.text}: blocks import qtasks as a user does` });
        }
      }
    }
    for (const d of found) {
      const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
      const inContext = at < v.prefixLines;
      diagnostics.push({
        page: v.block.page,
        line: inContext ? v.contextLine + at : v.block.line + at - v.prefixLines,
        message: `${inContext ? '(in its ts-context) ' : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
      });
    }
  }
  return { diagnostics: diagnostics.sort((a, b) => a.page.localeCompare(b.page) || a.line - b.line), blocks: count };
}

/** The pages the docs test checks: README.md and docs/*.md. */
export function repoPages(names: string[]): Page[] {
  return names.map((name) => ({ name, text: readFileSync(join(root, name), 'utf8') }));
}

