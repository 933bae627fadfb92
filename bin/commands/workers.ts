/** `qtasks workers -A app.ts:app`: the live workers of the app, in every process. */
import type { Command } from 'commander';
import type { QueueTasks } from '../../core/app.js';
import { OperationError } from '../cli-error.js';
import { age, table } from '../format.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

/** What a worker's heartbeat says about it. */
interface WorkerRow {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly running: number;
  readonly startedAt: number;
  readonly lastHeartbeat: number;
}

type WithRegistry = QueueTasks & { workers(): Promise<WorkerRow[]> };

function hasRegistry(app: QueueTasks): app is WithRegistry {
  return typeof (app as unknown as { workers?: unknown }).workers === 'function';
}

export function workersCommand(): Command {
  return appCommand('workers', 'the live workers of the app, in every process')
    .action(async (flags: AppFlags) => {
      await withApp('workers', flags, async (app) => {
        if (!hasRegistry(app)) throw new OperationError('qtasks workers: this version of qtasks has no worker registry (app.workers()); upgrade qtasks');
        const workers = await app.workers();
        if (flags.json === true) return printJson(workers);
        if (workers.length === 0) return void process.stdout.write('no live workers\n');
        const now = Date.now();
        process.stdout.write(
          table(
            ['ID', 'HOST', 'PID', 'QUEUES', 'CONCURRENCY', 'RUNNING', 'STARTED', 'HEARTBEAT'],
            workers.map((w) => [w.id, w.host, w.pid, w.queues.join(','), w.concurrency, w.running, age(w.startedAt, now), age(w.lastHeartbeat, now)]),
          ),
        );
      });
    });
}
