/**
 * The only globals qtasks has. Nothing in the kernel needs them: every component gets its app
 * explicitly. They exist for app-less entry points (`sharedTask`, the CLI) and for a host that
 * wants one logger for everything.
 */
import type { QueueTasks } from './app.js';
import type { LoggerLike } from './logger.js';
import type { SharedTaskDefinition } from './task.js';

let appMainRef: QueueTasks | undefined;
let loggerMainRef: LoggerLike | undefined;

/** The app constructed last with `globals` on (the default), or set with `setAppMain`. */
export function appMain(): QueueTasks | undefined {
  return appMainRef;
}

/** The logger components derive from when no logging plugin answers. */
export function loggerMain(): LoggerLike | undefined {
  return loggerMainRef;
}

export function setAppMain(app: QueueTasks | undefined): void {
  appMainRef = app;
}

export function setLoggerMain(logger: LoggerLike | undefined): void {
  loggerMainRef = logger;
}

/**
 * Declarations made with `sharedTask`: not state of any app, but a list of definitions that every
 * app adopts when it starts (unless its `sharedTasks` option is false). Kept here so that all
 * process-wide data lives in this one file.
 */
export const sharedTaskDefinitions: Map<string, SharedTaskDefinition> = new Map();
