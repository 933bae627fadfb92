/** `qtasks cancel -A app.ts:app ID [--reason text]`: cancels a queued, delayed or running task. */
import type { Command } from 'commander';
import { OperationError } from '../cli-error.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

interface CancelFlags extends AppFlags {
  reason?: string;
}

const SAID = {
  queued: 'cancelled (it was waiting: removed from its queue)',
  running: 'cancel requested (it was running: its worker aborts it)',
} as const;

export function cancelCommand(): Command {
  return appCommand('cancel', 'cancel a waiting, delayed or running task')
    .argument('<id>', 'the task id')
    .option('-r, --reason <text>', 'why (kept on the record)')
    .action(async (id: string, flags: CancelFlags) => {
      await withApp('cancel', flags, async (app) => {
        const found = await app.cancel(id, flags.reason);
        if (found === 'final') throw new OperationError(`qtasks cancel: task ${id} has already finished`);
        if (found === 'unknown') throw new OperationError(`qtasks cancel: no task ${id} is waiting or running`);
        if (flags.json === true) printJson({ id, found });
        else process.stdout.write(`${id}: ${SAID[found]}\n`);
      });
    });
}
