/** `qtasks tasks -A app.ts:app --status error [--queue q] [--name n] [--limit 50]`: a page of tasks, newest first. */
import type { Command } from 'commander';
import { TaskStatus, type TaskRecord, type TaskStatusName } from '../../core/record.js';
import { age, preview, table } from '../format.js';
import { appCommand, oneOf, positiveInt, printJson, withApp, type AppFlags } from '../operate.js';

interface TasksFlags extends AppFlags {
  status: TaskStatusName;
  queue?: string;
  name?: string;
  limit: number;
}

const STATUSES = Object.values(TaskStatus);

/** What a row says about how the task ended or waits: the error, the reason, the result. */
function outcome(r: TaskRecord): string {
  if (r.error !== undefined) return preview(`${r.error.name}: ${r.error.message}`, 60);
  if (r.reason !== undefined) return preview(r.reason, 60);
  if (r.returning !== undefined) return preview(r.returning, 60);
  return '';
}

export function tasksCommand(): Command {
  return appCommand('tasks', 'list tasks in a status, newest first')
    .requiredOption('-s, --status <status>', `one of ${STATUSES.join(', ')}`, oneOf(STATUSES))
    .option('-q, --queue <queue>', 'only this queue')
    .option('-n, --name <task>', 'only tasks of this name')
    .option('-l, --limit <n>', 'at most this many (default 50)', positiveInt, 50)
    .action(async (flags: TasksFlags) => {
      await withApp('tasks', flags, async (app) => {
        const records: TaskRecord[] = [];
        let cursor: string | undefined;
        // Pages of at most 1000 (the control plane's bound) until the limit or the last page.
        do {
          const page = await app.list({
            status: flags.status,
            limit: Math.min(1_000, flags.limit - records.length),
            ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
            ...(flags.name !== undefined ? { name: flags.name } : {}),
            ...(cursor !== undefined ? { cursor } : {}),
          });
          records.push(...page.records);
          cursor = page.cursor;
        } while (cursor !== undefined && records.length < flags.limit);
        if (flags.json === true) return printJson(records);
        if (records.length === 0) return void process.stdout.write(`no tasks in status ${flags.status}\n`);
        const now = Date.now();
        process.stdout.write(
          table(
            ['ID', 'NAME', 'QUEUE', 'STATUS', 'ATTEMPTS', 'UPDATED', 'OUTCOME'],
            records.map((r) => [r.id, r.name, r.queue, r.status, r.attempts, age(r.updatedAt, now), outcome(r)]),
          ),
        );
      });
    });
}
