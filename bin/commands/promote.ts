/** `qtasks promote -A app.ts:app ID`: a delayed (or retry-waiting) task runs now. */
import type { Command } from 'commander';
import { OperationError } from '../cli-error.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

export function promoteCommand(): Command {
  return appCommand('promote', 'run a delayed or retry-waiting task now')
    .argument('<id>', 'the task id')
    .action(async (id: string, flags: AppFlags) => {
      await withApp('promote', flags, async (app) => {
        if (!(await app.promote(id))) throw new OperationError(`qtasks promote: task ${id} is not waiting for its time (unknown, due, running or finished)`);
        if (flags.json === true) printJson({ id, promoted: true });
        else process.stdout.write(`promoted ${id}\n`);
      });
    });
}
