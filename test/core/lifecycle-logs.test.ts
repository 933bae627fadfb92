/**
 * What an app says at info by default: one line when it starts, and one when it has stopped,
 * also after a signal under runForever. A real child process receives the signal.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('../fixtures/run-forever.ts', import.meta.url));

describe('lifecycle log lines', () => {
  it('runForever logs "app started" once, and "app stopped" after SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    const started = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        for (const line of parts) {
          if (line.trim() === '') continue;
          const record = JSON.parse(line) as Record<string, unknown>;
          lines.push(record);
          if (record.msg === 'app started') resolve();
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await started;
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const info = lines.filter((r) => r.level === 'info').map((r) => r.msg);
    expect(info).toEqual(['app started', 'signal received: stopping', 'app stopped']);
  }, 20_000);
});
