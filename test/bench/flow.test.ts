/**
 * `npm run bench -- --broker redis --flow --jobs N` as a child process against the real Redis, with
 * a handful of children and no peer, so the mode cannot rot. No assertion on any number's size.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('bench --flow', () => {
  it.each(['redis', 'memory'])('runs a fan-out / fan-in on %s and prints its JSON line', async (broker) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--broker', broker, '--flow', '--jobs', '30', '--no-peers'], { cwd: root, timeout: 120_000 });
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ system: `qtasks-${broker}`, mode: 'flow', children: 30, concurrency: 50 });
    for (const f of ['submit_ms', 'total_ms', 'children_per_s']) expect(typeof lines[0]![f], f).toBe('number');
  });
});
