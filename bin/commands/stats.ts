/** `qtasks stats -A app.ts:app [--queue q] [--watch [s]]`: task counts per queue and status. */
import type { Command } from 'commander';
import type { QueueCounts } from '../../core/contracts.js';
import { table } from '../format.js';
import { appCommand, positiveInt, withApp, type AppFlags } from '../operate.js';

interface StatsFlags extends AppFlags {
  queue?: string;
  watch?: number | true;
}

const COLUMNS = ['waiting', 'delayed', 'running', 'retrying', 'dead', 'success', 'error', 'cancel'] as const;

export function statsTable(counts: readonly QueueCounts[]): string {
  if (counts.length === 0) return 'no queues yet\n';
  return table(
    ['QUEUE', ...COLUMNS.map((c) => c.toUpperCase()), 'PAUSED'],
    counts.map((c) => [c.queue, ...COLUMNS.map((k) => c[k]), c.paused ? 'yes' : 'no']),
  );
}

export function statsCommand(): Command {
  return appCommand('stats', 'task counts per queue and status')
    .option('-q, --queue <queue>', 'only this queue')
    .option('-w, --watch [seconds]', 'refresh every few seconds (default 2) until interrupted', positiveInt)
    .action(async (flags: StatsFlags) => {
      await withApp('stats', flags, async (app) => {
        const snapshot = async (): Promise<void> => {
          const counts = await app.counts(flags.queue);
          if (flags.json === true) process.stdout.write(JSON.stringify(counts, null, flags.watch === undefined ? 2 : undefined) + '\n');
          else if (flags.watch !== undefined && process.stdout.isTTY === true) {
            // In place: home the cursor and clear the screen, then the fresh table.
            process.stdout.write(`\u001b[H\u001b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n\n${statsTable(counts)}`);
          } else process.stdout.write(statsTable(counts) + (flags.watch !== undefined ? '\n' : ''));
        };
        await snapshot();
        if (flags.watch === undefined) return;
        const everyMs = (flags.watch === true ? 2 : flags.watch) * 1_000;
        await new Promise<void>((resolve, reject) => {
          const stop = (): void => {
            clearInterval(timer);
            resolve();
          };
          const timer = setInterval(() => {
            snapshot().catch((err: unknown) => {
              clearInterval(timer);
              reject(err as Error);
            });
          }, everyMs);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      });
    });
}
