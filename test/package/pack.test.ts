/**
 * What a user installs works: pack the package, install the tarball into a scratch project
 * outside the repo, check what it ships, import every entry point, run the bin, and type-check
 * against the published .d.ts files under the strictest settings users have.
 *
 * It packs the current dist/ (`npm test` builds first; alone: `npm run build` first).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
interface Manifest {
  exports: Record<string, string | { types?: string; default?: string }>;
  bin: Record<string, string>;
  peerDependencies: Record<string, string>;
}
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
/** `qtasks`, `qtasks/redis`, ... with their `default` and `types` targets (package-relative, no `./`). */
const entries = Object.entries(manifest.exports)
  .filter(([sub]) => sub !== './package.json')
  .map(([sub, target]) => {
    const t = typeof target === 'string' ? { default: target } : target;
    return { name: sub === '.' ? 'qtasks' : `qtasks/${sub.slice(2)}`, js: posix.normalize(t.default ?? ''), types: t.types === undefined ? undefined : posix.normalize(t.types) };
  });
const bins = Object.values(manifest.bin).map((b) => posix.normalize(b));

let scratch: string;
let pkg: string;
/** Files in the tarball, package-relative. */
let shipped: string[];

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'core', 'index.js'))) throw new Error('dist/ is not built: run `npm run build` first (npm test does)');
  scratch = mkdtempSync(join(tmpdir(), 'qtasks-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  shipped = packed!.files.map((f) => f.path).sort();
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund', '--prefer-offline', join(scratch, packed!.filename)], { cwd: scratch, stdio: 'pipe' });
  pkg = join(scratch, 'node_modules', 'qtasks');
  // The optional peers a user installs next to qtasks (drivers, types), from this repo's copies.
  for (const peer of [...Object.keys(manifest.peerDependencies), '@types/node']) {
    const from = join(root, 'node_modules', peer);
    const to = join(scratch, 'node_modules', peer);
    if (!existsSync(from) || existsSync(to)) continue;
    mkdirSync(dirname(to), { recursive: true });
    symlinkSync(from, to, 'dir');
  }
}, 180_000);

afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

/** Relative specifiers a compiled ES module imports or re-exports, statically or dynamically, or starts (`new URL('./x.js', import.meta.url)`). */
function relativeImports(js: string): string[] {
  const imported = [...js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  const started = [...js.matchAll(/\bnew URL\(\s*['"](\.{1,2}\/[^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
  return [...imported, ...started];
}

describe('the packed package', () => {
  it('ships only what the entry points and the bin reach: no benches, examples, tests or sources', () => {
    /** Files reached from `starts` through relative imports; `.js` specifiers name `ext` files. */
    const reach = (starts: string[], ext: string): Set<string> => {
      const reached = new Set<string>();
      const queue = [...starts];
      while (queue.length > 0) {
        const file = queue.pop()!;
        if (reached.has(file) || !shipped.includes(file)) continue;
        reached.add(file);
        for (const spec of relativeImports(readFileSync(join(pkg, file), 'utf8'))) queue.push(posix.join(posix.dirname(file), spec).replace(/\.js$/, ext));
      }
      return reached;
    };
    const code = reach([...entries.map((e) => e.js), ...bins], '.js');
    const types = reach(entries.flatMap((e) => (e.types === undefined ? [] : [e.types])), '.d.ts');
    // A module of types only compiles to an empty .js that no code imports: its .d.ts reaches it.
    const used = (f: string): boolean => code.has(f.replace(/\.(d\.ts|js\.map)$/, '.js')) || types.has(f.replace(/\.(js|js\.map)$/, '.d.ts'));
    expect(shipped.filter((f) => /\.(js|d\.ts|js\.map)$/.test(f) && !used(f))).toEqual([]);
    expect(shipped.filter((f) => /^dist\/(bench|examples)\//.test(f) || /\.(test|spec)\./.test(f) || (/\.[cm]?tsx?$/.test(f) && !f.endsWith('.d.ts')))).toEqual([]);
    expect(shipped.filter((f) => f.startsWith('dist/test/') && !f.startsWith('dist/test/contracts/'))).toEqual([]);
  });

  it('has the code and the types of every entry point, and the bin', () => {
    for (const e of entries) {
      expect(shipped, e.name).toContain(e.js);
      if (e.types !== undefined) expect(shipped, e.name).toContain(e.types);
    }
    for (const b of bins) expect(shipped).toContain(b);
  });

  it('source maps carry their sources: no map points at a file the package does not have', () => {
    const maps = shipped.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    const dangling: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent = [] } = JSON.parse(readFileSync(join(pkg, map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      sources.forEach((source, i) => {
        const inline = typeof sourcesContent[i] === 'string' && sourcesContent[i] !== '';
        if (!inline && !shipped.includes(posix.join(posix.dirname(map), source))) dangling.push(`${map}: ${source}`);
      });
    }
    expect(dangling).toEqual([]);
  });

  it('runs an app from the installed package, and every entry point loads', () => {
    writeFileSync(
      join(scratch, 'main.mjs'),
      `import { QueueTasks, ErrorCodes } from 'qtasks';
import { memory } from 'qtasks/memory';
const app = new QueueTasks({ name: 'packed', plugins: [memory()], config: { logLevel: 'silent' } });
const add = app.task('add', (a, b) => a + b);
await app.start();
const r = await add.addTask([20, 22], { timeout: 5000 });
await app.stop();
const loaded = [];
for (const sub of ${JSON.stringify(entries.map((e) => e.name))}) loaded.push(Object.keys(await import(sub)).length > 0);
console.log(JSON.stringify({ status: r.status, returning: r.returning, code: ErrorCodes.UNKNOWN_TASK, loaded }));
`,
    );
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: scratch, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ status: 'success', returning: 42, code: 'QTASKS_ERR_UNKNOWN_TASK', loaded: entries.map(() => true) });
  });

  it('type-checks every entry point and a typed task under the strictest settings (skipLibCheck off)', () => {
    const imports = entries.map((e, i) => `import * as entry${i} from '${e.name}';`).join('\n');
    writeFileSync(
      join(scratch, 'check.ts'),
      `${imports}
import { QueueTasks, type Broker, type TaskRecord } from 'qtasks';
import { memory } from 'qtasks/memory';
export const entries = [${entries.map((_, i) => `entry${i}`).join(', ')}];
const app = new QueueTasks({ name: 'typed', plugins: [memory()] });
const add = app.task('add', (a: number, b: number) => a + b);
export async function typed(): Promise<number | undefined> {
  const r: TaskRecord<[number, number], number> = await add.addTask([1, 2], { timeout: 10 });
  return r.returning;
}
export const broker = (b: Broker): string | undefined => b.records?.constructor.name;
// @ts-expect-error the args tuple is [number, number]
export const wrong = () => add.addTask(['1', 2]);
`,
    );
    const compilerOptions = {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      noImplicitReturns: true,
      noPropertyAccessFromIndexSignature: true,
      noFallthroughCasesInSwitch: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: false,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      lib: ['ES2022', 'ESNext.Disposable'],
      types: ['node'],
      noEmit: true,
    };
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['check.ts'] }));
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    let output = '';
    try {
      execFileSync(tsc, ['-p', scratch], { cwd: scratch, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(output).toBe('');
  }, 120_000);

  it('installs a working qtasks bin', () => {
    const out = execFileSync(join(scratch, 'node_modules', '.bin', 'qtasks'), ['--help'], { cwd: scratch, encoding: 'utf8' });
    expect(out).toContain('Usage: qtasks [options] [command]');
    expect(out).toMatch(/^  run \[options\]/m);
  });

  it('the bin run as the docs recommend (node_modules/.bin/qtasks) gets SIGTERM itself: it drains and exits 0', async () => {
    writeFileSync(
      join(scratch, 'worker.mjs'),
      `import { QueueTasks } from 'qtasks';
export const app = new QueueTasks({ name: 'signals-' + process.pid, config: { logLevel: 'silent' } });
app.hooks.lifecycle.started.tap('test', () => console.log('started ' + process.pid));
app.hooks.lifecycle.stopped.tap('test', () => console.log('stopped ' + process.pid));
`,
    );
    const child = spawn(join(scratch, 'node_modules', '.bin', 'qtasks'), ['run', '-A', 'worker.mjs'], { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let signalled = false;
    const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // The process we started is the one that runs the app: signalling it reaches the app.
      if (!signalled && stdout.includes(`started ${child.pid}\n`)) signalled = child.kill('SIGTERM');
    });
    expect(await exit).toBe(0);
    expect(stdout).toContain(`stopped ${child.pid}\n`);
  }, 30_000);
});

describe('the build', () => {
  it('still has what `npm start` runs (dist/examples/quickstart.js), which the tarball leaves out', () => {
    const out = execFileSync(process.execPath, [join(root, 'dist', 'examples', 'quickstart.js')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toContain('add(2, 3) = 5 [success]');
    expect(shipped.filter((f) => f.startsWith('dist/examples/'))).toEqual([]);
  });
});
