/** What `new QueueTasks(...)` and `app.start(...)` take, and the check of the start options. */
import type { Config } from './config.js';
import { ErrorCodes, QTasksError } from './errors.js';
import type { Plugin } from './plugin.js';
import { checkTaskName } from './task.js';

export type AppState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface QueueTasksOptions {
  /** The app's name: the namespace of its keys and queues. Producer and worker of one app use the same name. */
  name?: string;
  plugins?: readonly Plugin[];
  config?: Partial<Config>;
  /** Set appMain (and loggerMain, if none is set) on construction (default true). Off for hosts that want no globals. */
  globals?: boolean;
  /** Adopt tasks declared with sharedTask when starting (default true). */
  sharedTasks?: boolean;
  /** Environment to read QTASKS_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface StartOptions {
  /** Run a worker that consumes this app's queues (default true). Producers pass false. */
  worker?: boolean;
  /** The worker's concurrency for this run, over `config.concurrency` (a host's `--concurrency`). */
  concurrency?: number | undefined;
  /** The queues the worker consumes for this run, over `config.queues` (a host's `--queues`). */
  queues?: readonly string[] | undefined;
}

export function checkStartOptions(app: string, options: StartOptions): void {
  const { concurrency, queues } = options;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `start of app "${app}": concurrency must be a whole number >= 1, got ${String(concurrency)}`);
  }
  if (queues !== undefined && (!Array.isArray(queues) || queues.length === 0)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `start of app "${app}": queues must be a non-empty array of queue names`);
  }
  for (const q of queues ?? []) checkTaskName(q);
}
