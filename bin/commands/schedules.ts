/**
 * `qtasks schedules -A app.ts:app`: the app's schedules with their spec in words and their next
 * and last fire times; `qtasks unschedule -A app.ts:app ID [--yes]` removes one (it asks first).
 */
import type { Command } from 'commander';
import { specInWords } from '../../dashboard/schedule-words.js';
import { OperationError } from '../cli-error.js';
import { age, isoTime, preview, span, table } from '../format.js';
import { confirm } from '../interact.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

interface UnscheduleFlags extends AppFlags {
  yes?: boolean;
}

function when(at: number | undefined, now: number): string {
  if (at === undefined) return '-';
  return at >= now ? `${isoTime(at)} (in ${span(at - now)})` : `${isoTime(at)} (${age(at, now)})`;
}

export function schedulesCommand(): Command {
  return appCommand('schedules', "the app's schedules: what runs when, next and last fire")
    .action(async (flags: AppFlags) => {
      await withApp('schedules', flags, async (app) => {
        // `next` is after the instant the store computed it at, so after `before`; `last` was
        // stored before the list was read (a worker may fire while it is read), so before `after`.
        const before = Date.now();
        const list = (await app.schedules()).sort((a, b) => a.id.localeCompare(b.id));
        const after = Date.now();
        if (flags.json === true) return printJson(list.map((s) => ({ ...s, description: specInWords(s.spec) })));
        if (list.length === 0) return void process.stdout.write('no schedules\n');
        process.stdout.write(
          table(
            ['ID', 'TASK', 'ARGS', 'WHEN', 'NEXT', 'LAST'],
            list.map((s) => [s.id, s.task, preview(s.args, 30), specInWords(s.spec), s.next === undefined ? 'never again' : when(s.next, before), when(s.last, after)]),
          ),
        );
      });
    });
}

export function unscheduleCommand(): Command {
  return appCommand('unschedule', 'remove a schedule (fires already queued still run)')
    .argument('<id>', 'the schedule id')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: UnscheduleFlags) => {
      await withApp('unschedule', flags, async (app) => {
        const found = (await app.schedules()).find((s) => s.id === id);
        if (found === undefined) throw new OperationError(`qtasks unschedule: no schedule ${id}`);
        if (!(await confirm('unschedule', `remove schedule ${id} (${found.task}, ${specInWords(found.spec)})?`, flags.yes))) {
          throw new OperationError('qtasks unschedule: not confirmed; nothing removed');
        }
        if (!(await app.unschedule(id))) throw new OperationError(`qtasks unschedule: schedule ${id} was removed meanwhile`);
        if (flags.json === true) printJson({ id, removed: true });
        else process.stdout.write(`removed schedule ${id}\n`);
      });
    });
}
