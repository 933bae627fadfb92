/**
 * What every operator command shares: the `-A` and `--json` options, loading the app with its
 * worker off, and stopping it again whatever happens. Commands get a started app and print.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { QueueTasks } from '../core/app.js';
import { LOG_LEVELS, type LogLevel } from '../core/logger.js';
import { UsageError } from './cli-error.js';
import { loadApp } from './load-app.js';

export interface AppFlags {
  app?: string;
  json?: boolean;
}

/** A command that targets one app: `-A file[:export]` and `--json`. */
export function appCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('-A, --app <module[:export]>', 'file that exports the app (export name defaults to "app")')
    .option('--json', 'print JSON instead of a table');
}

/**
 * Loads the app of `-A`, starts it without a worker (this process only inspects and steers),
 * runs `fn`, and stops the app. Operator commands log warnings at most: their output is the answer.
 */
export async function withApp<T>(command: string, flags: AppFlags, fn: (app: QueueTasks) => Promise<T>): Promise<T> {
  if (flags.app === undefined) throw new UsageError(`qtasks ${command}: missing -A <module>[:<export>]`);
  const { app } = await loadApp(flags.app);
  if (app.state !== 'created') throw new UsageError(`qtasks ${command}: the app of ${flags.app} is already ${app.state}; export an app that the module does not start`);
  // Quieter than the app's own setting only: an app configured for errors alone stays so.
  // The level reads as a string (a logging plugin may have levels of its own): unknown ones rank lowest.
  const current = Object.hasOwn(LOG_LEVELS, app.logLevel) ? LOG_LEVELS[app.logLevel as LogLevel] : 0;
  if (current < LOG_LEVELS.warn) app.logLevel = 'warn';
  try {
    await app.start({ worker: false });
    return await fn(app);
  } finally {
    await app.stop().catch(() => undefined);
  }
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1.');
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `1h`, `7d`, `500ms` (or a bare number of ms) to milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError('must be a duration such as 500ms, 30s, 15m, 1h or 7d.');
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

export function oneOf<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}.`);
    return value as T;
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
