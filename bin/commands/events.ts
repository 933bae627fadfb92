/** `qtasks events -A app.ts:app [--type t] [--queue q]`: tails the app's live event stream until interrupted. */
import type { Command } from 'commander';
import type { TaskEvent, TaskEventType } from '../../core/contracts.js';
import { preview } from '../format.js';
import { appCommand, oneOf, withApp, type AppFlags } from '../operate.js';

interface EventsFlags extends AppFlags {
  type?: TaskEventType;
  queue?: string;
  name?: string;
}

const TYPES: readonly TaskEventType[] = ['added', 'delayed', 'active', 'progress', 'completed', 'failed', 'retrying', 'dead', 'cancelled'];

function line(e: TaskEvent): string {
  const detail = e.type === 'progress' ? preview(e.progress, 80) : e.message !== undefined ? preview(e.message, 80) : '';
  return `${new Date(e.at).toISOString()}  ${e.type.padEnd(9)}  ${e.queue}  ${e.name}  ${e.id}  attempt ${e.attempt}${detail !== '' ? `  ${detail}` : ''}\n`;
}

export function eventsCommand(): Command {
  return appCommand('events', "tail the app's live task events (from every process) until interrupted")
    .option('-t, --type <type>', `only events of this type: ${TYPES.join(', ')}`, oneOf(TYPES))
    .option('-q, --queue <queue>', 'only this queue')
    .option('-n, --name <task>', 'only tasks of this name')
    .action(async (flags: EventsFlags) => {
      await withApp('events', flags, async (app) => {
        const off = app.events.on(flags.type ?? '*', (e) => {
          if (flags.queue !== undefined && e.queue !== flags.queue) return;
          if (flags.name !== undefined && e.name !== flags.name) return;
          process.stdout.write(flags.json === true ? JSON.stringify(e) + '\n' : line(e));
        });
        await app.events.ready();
        // Said on stderr once the stream is live: a script may start producing from here.
        process.stderr.write('qtasks: listening (Ctrl-C to stop)\n');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        off();
      });
    });
}
