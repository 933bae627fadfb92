/**
 * `qtasks retry -A app.ts:app ID`, or in bulk `qtasks retry -A app.ts:app --status dead [--queue q]`:
 * queues tasks in error or dead again with a fresh attempt count. Bulk retries ask first (or `--yes`).
 */
import type { Command } from 'commander';
import type { QueueTasks } from '../../core/app.js';
import { OperationError, UsageError } from '../cli-error.js';
import { confirm, progress } from '../interact.js';
import { appCommand, oneOf, positiveInt, printJson, withApp, type AppFlags } from '../operate.js';

interface RetryFlags extends AppFlags {
  status?: 'dead' | 'error';
  queue?: string;
  name?: string;
  limit?: number;
  yes?: boolean;
}

/** Batches small enough that the bar moves; each is one call of the control plane. */
const BATCH = 100;

async function total(app: QueueTasks, flags: RetryFlags & { status: 'dead' | 'error' }): Promise<number> {
  const counts = await app.counts(flags.queue);
  const all = counts.reduce((sum, c) => sum + c[flags.status], 0);
  return flags.limit !== undefined ? Math.min(all, flags.limit) : all;
}

export function retryCommand(): Command {
  return appCommand('retry', 'queue again a task in error or dead (by id), or every one in a status')
    .argument('[id]', 'the task id (or use --status for many)')
    .option('-s, --status <status>', 'retry every task in this status: dead or error', oneOf(['dead', 'error'] as const))
    .option('-q, --queue <queue>', 'with --status: only this queue')
    .option('-n, --name <task>', 'with --status: only tasks of this name')
    .option('-l, --limit <n>', 'with --status: at most this many', positiveInt)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string | undefined, flags: RetryFlags) => {
      if ((id === undefined) === (flags.status === undefined)) throw new UsageError('qtasks retry: give a task id or --status dead|error, not both');
      if (id !== undefined && (flags.queue !== undefined || flags.name !== undefined || flags.limit !== undefined)) {
        throw new UsageError('qtasks retry: --queue, --name and --limit go with --status');
      }
      await withApp('retry', flags, async (app) => {
        if (id !== undefined) {
          const retried = await app.retry(id);
          if (retried === 0) throw new OperationError(`qtasks retry: task ${id} changed meanwhile; not retried`);
          if (flags.json === true) printJson({ id, retried });
          else process.stdout.write(`retried ${id}\n`);
          return;
        }
        const status = flags.status!;
        const filter = { ...flags, status };
        const expected = flags.name === undefined ? await total(app, filter) : undefined;
        if (expected === 0) {
          if (flags.json === true) printJson({ retried: 0 });
          else process.stdout.write(`no tasks in status ${status}\n`);
          return;
        }
        const where = `${flags.queue !== undefined ? ` in queue ${flags.queue}` : ''}${flags.name !== undefined ? ` named ${flags.name}` : ''}`;
        const what = expected !== undefined ? `${expected} ${status} task(s)` : `every ${status} task`;
        if (!(await confirm('retry', `retry ${what}${where}?`, flags.yes))) throw new OperationError('qtasks retry: not confirmed; nothing retried');
        const bar = progress('retried', expected);
        let done = 0;
        // No more than were there when asked: a task that dies again at once is not retried twice.
        const cap = expected ?? flags.limit ?? Infinity;
        for (;;) {
          const want = Math.min(BATCH, cap - done);
          if (want <= 0) break;
          const n = await app.retry({
            status,
            limit: want,
            ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
            ...(flags.name !== undefined ? { name: flags.name } : {}),
          });
          done += n;
          if (n === 0) break;
          bar.update(done);
          if (n < want) break;
        }
        bar.end(done);
        if (flags.json === true) printJson({ retried: done });
        else process.stdout.write(`retried ${done} task(s)\n`);
      });
    });
}
