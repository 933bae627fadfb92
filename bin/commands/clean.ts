/** `qtasks clean -A app.ts:app --status success --older-than 1h [--yes]`: deletes old finished records. */
import type { Command } from 'commander';
import { OperationError } from '../cli-error.js';
import { span } from '../format.js';
import { confirm, progress } from '../interact.js';
import { appCommand, duration, oneOf, positiveInt, printJson, withApp, type AppFlags } from '../operate.js';

type Finished = 'success' | 'error' | 'cancel' | 'dead';

interface CleanFlags extends AppFlags {
  status: Finished;
  olderThan: number;
  limit?: number;
  yes?: boolean;
}

const BATCH = 1_000;

export function cleanCommand(): Command {
  return appCommand('clean', 'delete finished records of a status older than a given age')
    .requiredOption('-s, --status <status>', 'success, error, cancel or dead', oneOf<Finished>(['success', 'error', 'cancel', 'dead']))
    .requiredOption('-o, --older-than <age>', 'last updated longer ago than this: 500ms, 30s, 15m, 1h, 7d', duration)
    .option('-l, --limit <n>', 'at most this many', positiveInt)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (flags: CleanFlags) => {
      await withApp('clean', flags, async (app) => {
        // An upper bound for the bar: every record of the status, old or not.
        const kept = (await app.counts()).reduce((sum, c) => sum + c[flags.status], 0);
        const bound = flags.limit !== undefined ? Math.min(kept, flags.limit) : kept;
        const question = `delete ${flags.status} records older than ${span(flags.olderThan)} (up to ${bound})?`;
        if (bound > 0 && !(await confirm('clean', question, flags.yes))) throw new OperationError('qtasks clean: not confirmed; nothing deleted');
        const bar = progress('deleted', bound);
        let done = 0;
        while (bound > 0) {
          const want = flags.limit !== undefined ? Math.min(BATCH, flags.limit - done) : BATCH;
          if (want <= 0) break;
          const n = await app.clean({ status: flags.status, olderThanMs: flags.olderThan, limit: want });
          done += n;
          if (n > 0) bar.update(done);
          if (n < want) break;
        }
        if (bound > 0) bar.end(done);
        if (flags.json === true) printJson({ deleted: done });
        else process.stdout.write(`deleted ${done} record(s)\n`);
      });
    });
}
