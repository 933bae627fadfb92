/**
 * `npm run bench -- --matrix --quick` as a child process against the real Redis and RabbitMQ:
 * every cell of the envelope runs (a handful of tasks each, qtasks only) and prints its JSON
 * line, then the ratio table, so the command cannot rot. No assertion on any number's size.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('bench --matrix --quick', () => {
  it('runs every cell once, prints one JSON line per cell and a ratio table', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--matrix', '--quick'], { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
    const lines = stdout.split('\n');
    const cells = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { cell: string; kind: string; runs: Array<Record<string, unknown>>; ratios: Record<string, unknown> });
    const names = cells.map((c) => c.cell);
    const expected = [
      ...['100B', '10KB', '100KB'].flatMap((p) => [1, 10, 50, 200].map((c) => `redis ${p} c=${c}`)),
      'redis memory 100B',
      'redis memory 10KB',
      'redis memory 100KB',
      'redis delayed 300 x 1s',
      'redis delayed batch 20k',
      'redis idle round trip',
      ...[1, 10, 50, 200].map((c) => `rabbitmq 10KB c=${c}`),
    ];
    expect(names).toEqual(expected);
    for (const cell of cells) {
      expect(cell.runs.length).toBeGreaterThan(0);
      // --quick runs no peer.
      for (const run of cell.runs) expect(String(run.system)).toMatch(/^qtasks-/);
      const run = cell.runs[0]!;
      const fields: Record<string, string[]> = {
        throughput: ['enqueue_per_s', 'process_per_s'],
        memory: ['key_bytes_per_task', 'info_bytes_per_task'],
        delayed: ['lateness_p50_ms', 'lateness_p99_ms', 'process_per_s'],
        latency: ['p50_ms', 'p99_ms'],
      };
      for (const f of fields[cell.kind]!) expect(typeof run[f], `${cell.cell}: ${f}`).toBe('number');
      // Without peers there is nothing to compare with.
      for (const v of Object.values(cell.ratios)) expect(v).toBeNull();
    }
    // Memory per task grows with the payload it stores.
    const bytes = cells.filter((c) => c.kind === 'memory').map((c) => Number(c.runs[0]!.key_bytes_per_task));
    expect(bytes[0]!).toBeLessThan(bytes[1]!);
    expect(bytes[1]!).toBeLessThan(bytes[2]!);
    const table = lines.filter((l) => l.startsWith('| '));
    expect(table[0]).toContain('ratio to the better peer');
    expect(table.slice(2).map((r) => r.split(' | ')[0]!.slice(2))).toEqual(expected);
  });
});
