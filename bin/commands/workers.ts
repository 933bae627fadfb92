/** `qtasks workers -A app.ts:app`: the live workers of the app, in every process. */
import type { Command } from 'commander';
import { age, table } from '../format.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

export function workersCommand(): Command {
  return appCommand('workers', 'the live workers of the app, in every process')
    .action(async (flags: AppFlags) => {
      await withApp('workers', flags, async (app) => {
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
