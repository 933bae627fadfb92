/**
 * What a user installs works: pack the package, install the tarball into a scratch project
 * outside the repo, import every entry point and type-check against the published .d.ts files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'qtasks-pack-'));
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  const tarball = out.trim().split('\n').pop()!;
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund', '--prefer-offline', join(scratch, tarball)], { cwd: scratch, stdio: 'pipe' });
}, 180_000);

afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships compiled JavaScript and types for every entry point, and no sources or tests', () => {
    const dist = join(scratch, 'node_modules', 'qtasks', 'dist');
    const top = readdirSync(dist).sort();
    expect(top).toEqual(expect.arrayContaining(['bin', 'core', 'plugins', 'test']));
    expect(readdirSync(join(dist, 'test'))).toEqual(['contracts']);
    expect(readdirSync(join(scratch, 'node_modules', 'qtasks')).sort()).not.toContain('core');
  });

  it('runs an app from the installed package', () => {
    writeFileSync(
      join(scratch, 'main.mjs'),
      `import { QueueTasks, ErrorCodes } from 'qtasks';
import { memory } from 'qtasks/memory';
const app = new QueueTasks({ name: 'packed', plugins: [memory()], config: { logLevel: 'silent' } });
const add = app.task('add', (a, b) => a + b);
await app.start();
const r = await add.addTask([20, 22], { timeout: 5000 });
await app.stop();
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
for (const sub of ['qtasks/redis', 'qtasks/rabbitmq', 'qtasks/pino', 'qtasks/host', 'qtasks/nestjs', 'qtasks/testing']) {
  if (!existsSync(fileURLToPath(import.meta.resolve(sub)))) throw new Error(sub + ' is not in the package');
}
console.log(JSON.stringify({ status: r.status, returning: r.returning, code: ErrorCodes.UNKNOWN_TASK }));
`,
    );
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: scratch, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ status: 'success', returning: 42, code: 'QTASKS_ERR_UNKNOWN_TASK' });
  });

  it('type-checks a typed task against the published declarations', () => {
    writeFileSync(
      join(scratch, 'check.ts'),
      `import { QueueTasks, type TaskRecord } from 'qtasks';
const app = new QueueTasks({ name: 'typed' });
const add = app.task('add', (a: number, b: number) => a + b);
export async function typed(): Promise<number | undefined> {
  const r: TaskRecord<[number, number], number> = await add.addTask([1, 2], { timeout: 10 });
  return r.returning;
}
// @ts-expect-error the args tuple is [number, number]
export const wrong = () => add.addTask(['1', 2]);
`,
    );
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: true, types: [], lib: ['ES2022', 'ESNext.Disposable'] }, files: ['check.ts'] }),
    );
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    expect(() => execFileSync(tsc, ['-p', scratch], { cwd: scratch, encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
  });

  it('installs a working qtasks bin', () => {
    const out = execFileSync(join(scratch, 'node_modules', '.bin', 'qtasks'), ['--help'], { cwd: scratch, encoding: 'utf8' });
    expect(out).toContain('Usage: qtasks [options] [command]');
    expect(out).toMatch(/^  run \[options\]/m);
  });
});
