/** `qtasks pause|resume -A app.ts:app [QUEUE]`: every worker of the app stops (or resumes) taking tasks. */
import type { Command } from 'commander';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

function toggle(verb: 'pause' | 'resume'): Command {
  const what = verb === 'pause' ? 'stop taking tasks from a queue (every queue without one)' : 'take tasks from a paused queue again (every queue without one)';
  return appCommand(verb, `every worker of the app, in every process: ${what}`)
    .argument('[queue]', 'the queue (default: all)')
    .action(async (queue: string | undefined, flags: AppFlags) => {
      await withApp(verb, flags, async (app) => {
        await (verb === 'pause' ? app.pause(queue) : app.resume(queue));
        const done = verb === 'pause' ? 'paused' : 'resumed';
        if (flags.json === true) printJson({ queue: queue ?? '*', [done]: true });
        else process.stdout.write(`${done} ${queue === undefined ? 'every queue' : `queue ${queue}`}\n`);
      });
    });
}

export const pauseCommand = (): Command => toggle('pause');
export const resumeCommand = (): Command => toggle('resume');
