/**
 * The only globals qtasks has. Nothing in the kernel needs them: every component gets its app
 * explicitly. They exist for app-less entry points (`sharedTask`, a router no app included yet)
 * and for a host that wants one logging sink for everything. See docs/integrations.md.
 */
import type { QueueTasks } from './app.js';
import { ErrorCodes, QTasksError } from './errors.js';
import type { LoggerLike } from './logger.js';
import type { SharedTaskDefinition } from './task.js';

let appMainRef: QueueTasks | undefined;
let loggerMainRef: LoggerLike | undefined;

/** The app constructed last with `globals` on (the default), or set with `setAppMain`. */
export function appMain(): QueueTasks | undefined {
  return appMainRef;
}

/** appMain for an app-less entry point, or a NO_APP error that says what needed it. */
export function requireAppMain(what: string): QueueTasks {
  if (appMainRef === undefined) {
    throw new QTasksError(ErrorCodes.NO_APP, `${what} needs an app: none was given and there is no appMain (construct a QueueTasks with globals on, or call setAppMain(app))`);
  }
  return appMainRef;
}

/**
 * The logger apps derive from when no logging plugin answers. The first app constructed with
 * globals on sets it if nobody has; a host may set its own (any LoggerLike) before or after.
 */
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
