import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const bin = resolve(root, 'dist', 'bin', 'qtasks.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; `onLine` may act on stdout lines (to send a signal). */
function run(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line !== '') onLine?.(line, child);
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('qtasks run (built CLI)', () => {
  it('runs a TypeScript app until SIGTERM, drains the running task and exits 0', async () => {
    const result = await run(['run', '-A', 'test/fixtures/cli-app.ts:app'], (line, child) => {
      if (line === 'task running') child.kill('SIGTERM');
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The signal arrived while the task ran; stop waited for it.
    expect(result.stdout).toContain('task finished');
  });

  it('exits 2 with one line for a missing file', async () => {
    const result = await run(['run', '-A', 'test/fixtures/nope.ts:app']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual(['qtasks: no such file: test/fixtures/nope.ts']);
  });

  it('exits 2 with one line for a missing export', async () => {
    const result = await run(['run', '-A', 'test/fixtures/cli-app.ts:worker']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('has no export "worker"');
  });

  it('exits 2 with one line for an export that is not an app', async () => {
    const result = await run(['run', '-A', 'test/fixtures/cli-app.ts:notAnApp']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual(['qtasks: export "notAnApp" of test/fixtures/cli-app.ts is not a QueueTasks app']);
  });

  it('prints the pid that receives signals first, and applies --concurrency, --queues and --log-level', async () => {
    let pid: number | undefined;
    const result = await run(['run', '-A', 'test/fixtures/cli-app.ts:app', '--concurrency', '3', '--queues', 'default,extra', '--log-level', 'info'], (line, child) => {
      pid ??= child.pid;
      if (line === 'task finished') child.kill('SIGTERM');
    });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(`qtasks: pid ${pid}`);
    // The fixture's config says logLevel silent: the flag wins, and the app says what it consumes.
    const consuming = result.stderr.split('\n').find((l) => l.includes('app started'));
    expect(consuming).toContain('"queues":["default","extra"],"concurrency":3');
  });

  it.each([
    [['run', '-A', 'test/fixtures/cli-app.ts:app', '--concurrency', '0'], 'argument "0" is invalid'],
    [['run', '-A', 'test/fixtures/cli-app.ts:app', '--log-level', 'loud'], 'argument "loud" is invalid'],
    [['run', '-A', 'test/fixtures/cli-app.ts:app', '--queues', ','], 'give at least one queue name'],
    [['run'], 'missing -A'],
    [['run', '-A', 'test/fixtures/cli-app.ts:app', '--nope'], 'unknown option "--nope"'],
  ])('exits 2 with one line for a usage error: %j', async (args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('--help exits 0 with the usage on stdout; no command at all is a usage error', async () => {
    const help = await run(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--concurrency <n>');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: qtasks');
  });

  it('a second signal during the drain exits at once with code 1 and one line', async () => {
    const result = await run(['run', '-A', 'test/fixtures/cli-long.ts:app'], (line, child) => {
      if (line === 'task running') child.kill('SIGTERM');
      if (line === 'qtasks: SIGTERM: draining') child.kill('SIGINT');
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('qtasks: SIGINT during the drain: exiting without waiting\n');
  });

  it('exits 2 for an unknown command', async () => {
    const result = await run(['serve']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "serve"');
  });
});
