/**
 * The `qtasks` command line: one file per command under bin/commands, registered here. Commands
 * throw UsageError (exit 2) or OperationError (exit 1); qtasks.ts turns them into one line.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';
import { tasksCommand } from './commands/tasks.js';
import { showCommand } from './commands/show.js';
import { retryCommand } from './commands/retry.js';
import { cancelCommand } from './commands/cancel.js';
import { promoteCommand } from './commands/promote.js';
import { removeCommand } from './commands/remove.js';
import { cleanCommand } from './commands/clean.js';
import { purgeCommand } from './commands/purge.js';
import { pauseCommand, resumeCommand } from './commands/pause.js';
import { eventsCommand } from './commands/events.js';
import { workersCommand } from './commands/workers.js';
import { dashboardCommand } from './commands/dashboard.js';
import { schedulesCommand, unscheduleCommand } from './commands/schedules.js';

/** package.json's version, found upwards from this file (bin/ in source, dist/bin/ built). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'qtasks' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: one level up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

export function program(): Command {
  const cli = new Command('qtasks')
    .description('qtasks: run and operate task queue apps')
    .version(version(), '-V, --version')
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined }); // errors are printed once, by qtasks.ts
  for (const command of [runCommand(), statsCommand(), tasksCommand(), showCommand(), retryCommand(), cancelCommand(), promoteCommand(), removeCommand(), cleanCommand(), purgeCommand(), pauseCommand(), resumeCommand(), workersCommand(), schedulesCommand(), unscheduleCommand(), eventsCommand(), dashboardCommand()]) {
    cli.addCommand(command.exitOverride().configureOutput({ outputError: () => undefined }));
  }
  return cli;
}
