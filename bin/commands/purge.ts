/** `qtasks purge -A app.ts:app QUEUE [--yes]`: drops every task waiting or delayed in a queue. */
import type { Command } from 'commander';
import { OperationError } from '../cli-error.js';
import { confirm } from '../interact.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

interface PurgeFlags extends AppFlags {
  yes?: boolean;
}

export function purgeCommand(): Command {
  return appCommand('purge', 'drop every task waiting or delayed in a queue (running tasks go on)')
    .argument('<queue>', 'the queue')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (queue: string, flags: PurgeFlags) => {
      await withApp('purge', flags, async (app) => {
        const [counts] = await app.counts(queue);
        const queued = counts === undefined ? 0 : counts.waiting + counts.delayed;
        if (!(await confirm('purge', `drop the ${queued} waiting and delayed task(s) of queue ${queue}?`, flags.yes))) {
          throw new OperationError('qtasks purge: not confirmed; nothing dropped');
        }
        const dropped = await app.purge(queue);
        if (flags.json === true) printJson({ queue, dropped });
        else process.stdout.write(`dropped ${dropped} task(s) from queue ${queue}\n`);
      });
    });
}
