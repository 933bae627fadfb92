/** `qtasks remove -A app.ts:app ID`: deletes a task that is not running, everywhere. */
import type { Command } from 'commander';
import { OperationError } from '../cli-error.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

export function removeCommand(): Command {
  return appCommand('remove', 'delete a task that is not running (queue, record and indexes)')
    .argument('<id>', 'the task id')
    .action(async (id: string, flags: AppFlags) => {
      await withApp('remove', flags, async (app) => {
        if (!(await app.remove(id))) throw new OperationError(`qtasks remove: task ${id} is running or unknown; not removed`);
        if (flags.json === true) printJson({ id, removed: true });
        else process.stdout.write(`removed ${id}\n`);
      });
    });
}
