/**
 * `qtasks run -A a.ts:app [-A b.ts:app ...]`: runs the workers of the apps in this process until
 * SIGINT/SIGTERM, drains them all, exits 0. The pid printed at start is the one to signal (a
 * wrapper such as npx does not forward signals).
 */
import { Command, InvalidArgumentError } from 'commander';
import { LOG_LEVELS, type LogLevel } from '../../core/logger.js';
import { WorkerHostError, runWorkers } from '../../host/index.js';
import { OperationError, UsageError, oneLine } from '../cli-error.js';
import { loadApps } from '../load-app.js';

interface RunFlags {
  app?: string[];
  concurrency?: number;
  queues?: string[];
  logLevel?: LogLevel;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1.');
  return n;
}

function queueList(value: string): string[] {
  const queues = value.split(',').map((q) => q.trim()).filter((q) => q !== '');
  if (queues.length === 0) throw new InvalidArgumentError('give at least one queue name.');
  return queues;
}

function level(value: string): LogLevel {
  if (!Object.hasOwn(LOG_LEVELS, value)) throw new InvalidArgumentError(`must be one of ${Object.keys(LOG_LEVELS).join(', ')}.`);
  return value as LogLevel;
}

export function runCommand(): Command {
  return new Command('run')
    .description('run the workers of one or more apps until SIGINT/SIGTERM, then drain them and exit')
    .option('-A, --app <module[:export]>', 'file that exports the app (export name defaults to "app"); repeat for several apps', collect)
    .option('-c, --concurrency <n>', 'tasks each app runs at once (over config.concurrency)', positiveInt)
    .option('-Q, --queues <list>', 'comma-separated queues each app consumes (over config.queues)', queueList)
    .option('-l, --log-level <level>', 'log level of every app (over config.logLevel)', level)
    .addHelpText('after', '\nTypeScript modules are loaded through tsx (npm install tsx).\nSend SIGTERM to the printed pid to drain and stop; a second signal exits at once.\n')
    .action(async (flags: RunFlags) => {
      if (flags.app === undefined) throw new UsageError('qtasks run: missing -A <module>[:<export>]');
      process.stdout.write(`qtasks: pid ${process.pid}\n`);
      const apps = await loadApps(flags.app);
      try {
        await runWorkers(apps, {
          concurrency: flags.concurrency,
          queues: flags.queues,
          logLevel: flags.logLevel,
          onStarted: (host) => process.stdout.write(`qtasks: running ${host.apps.map((a) => `${a.label} (${a.app.name})`).join(', ')}\n`),
          onSignal: (signal) => {
            process.stdout.write(`qtasks: ${signal}: draining\n`);
            // The drain is bounded by each app's stopTimeoutMs; an operator who cannot wait signals again.
            const force = (again: NodeJS.Signals): void => {
              process.stderr.write(`qtasks: ${again} during the drain: exiting without waiting\n`);
              process.exit(1);
            };
            process.once('SIGINT', force);
            process.once('SIGTERM', force);
          },
        });
      } catch (err) {
        if (err instanceof WorkerHostError) throw new OperationError(`qtasks: ${oneLine(err)}`);
        throw err;
      }
    });
}
