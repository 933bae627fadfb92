/**
 * One error base with stable codes. Tests and callers branch on `code`, never on message text.
 */

export const ErrorCodes = Object.freeze({
  /** Options given to the app, a task or a plugin are invalid. */
  INVALID_OPTION: 'QTASKS_ERR_INVALID_OPTION',
  /** Arguments given to addTask are invalid (not JSON-serializable, not an array...). */
  INVALID_ARGS: 'QTASKS_ERR_INVALID_ARGS',
  /** A task's result is not plain JSON (a function, Map, class instance, NaN...); the task ends in error. */
  INVALID_RESULT: 'QTASKS_ERR_INVALID_RESULT',
  /** A configuration value (often from a QTASKS_* variable) cannot be parsed. */
  INVALID_CONFIG: 'QTASKS_ERR_INVALID_CONFIG',
  /** Two plugins with the same name were given to one app. */
  DUPLICATE_PLUGIN: 'QTASKS_ERR_DUPLICATE_PLUGIN',
  /** A plugin needs another plugin that is not registered before it. */
  PLUGIN_DEPENDENCY: 'QTASKS_ERR_PLUGIN_DEPENDENCY',
  /** Plugins, taps or tasks were added after start(). */
  ALREADY_STARTED: 'QTASKS_ERR_ALREADY_STARTED',
  /** An operation needs a started app. */
  NOT_STARTED: 'QTASKS_ERR_NOT_STARTED',
  /** The app was stopped and cannot be started again. */
  STOPPED: 'QTASKS_ERR_STOPPED',
  /** A task with this name is already registered on the app. */
  DUPLICATE_TASK: 'QTASKS_ERR_DUPLICATE_TASK',
  /** No task with this name is registered. */
  UNKNOWN_TASK: 'QTASKS_ERR_UNKNOWN_TASK',
  /** A tap threw; the error names the hook and the plugin. */
  HOOK_FAILED: 'QTASKS_ERR_HOOK_FAILED',
  /** One or more stop steps failed; see `errors`. */
  STOP_FAILED: 'QTASKS_ERR_STOP_FAILED',
  /** Waiting for a task's result timed out; the task keeps running. */
  WAIT_TIMEOUT: 'QTASKS_ERR_WAIT_TIMEOUT',
  /** A task ran longer than its maxTime. */
  TASK_TIMEOUT: 'QTASKS_ERR_TASK_TIMEOUT',
  /** A task awaited with `handle.run` ended in error, cancel or dead; the error carries the record. */
  TASK_FAILED: 'QTASKS_ERR_TASK_FAILED',
  /** A task was cancelled (by its handler through ctx.cancel, or by TaskCancelError). */
  TASK_CANCELLED: 'QTASKS_ERR_TASK_CANCELLED',
  /** A handler threw something that is not an Error; it was wrapped. */
  NON_ERROR_THROWN: 'QTASKS_ERR_NON_ERROR_THROWN',
  /** A message could not be decoded as a task, or a `broker.receive` tap rejected it. */
  MALFORMED_MESSAGE: 'QTASKS_ERR_MALFORMED_MESSAGE',
  /** A task was delivered more often than its delivery limit without an outcome. */
  DELIVERY_LIMIT: 'QTASKS_ERR_DELIVERY_LIMIT',
  /** A broker or storage connection is closed or lost. */
  CONNECTION_CLOSED: 'QTASKS_ERR_CONNECTION_CLOSED',
  /** A broker or storage could not connect: refused, unreachable, bad credentials, TLS or database mismatch. */
  CONNECTION_FAILED: 'QTASKS_ERR_CONNECTION_FAILED',
  /** A broker or storage server did not answer a request (an outage); the call may succeed later. */
  BROKER_UNAVAILABLE: 'QTASKS_ERR_BROKER_UNAVAILABLE',
  /** A plugin (or other code the kernel runs for the app, such as a dependency factory) failed with an error that is not a QTasksError; `cause` holds it. */
  PLUGIN_FAILED: 'QTASKS_ERR_PLUGIN_FAILED',
  /** A start or stop step did not finish in time. */
  LIFECYCLE_TIMEOUT: 'QTASKS_ERR_LIFECYCLE_TIMEOUT',
  /** No app was given and no appMain is set. */
  NO_APP: 'QTASKS_ERR_NO_APP',
  /** A control-plane cursor does not belong to this query (or is not a cursor at all). */
  INVALID_CURSOR: 'QTASKS_ERR_INVALID_CURSOR',
  /** A queue name no task, config or worker of this app uses. */
  UNKNOWN_QUEUE: 'QTASKS_ERR_UNKNOWN_QUEUE',
  /** A control action does not apply to the task in its current status (retry of a running task...). */
  INVALID_STATE: 'QTASKS_ERR_INVALID_STATE',
  /** The operation is not supported by the configured plugin. */
  UNSUPPORTED: 'QTASKS_ERR_UNSUPPORTED',
  /** One or more apps of a host (worker host, Nest module) failed to start; the others were stopped again. */
  START_FAILED: 'QTASKS_ERR_START_FAILED',
  /** A sandboxed task's processor is missing, cannot be loaded, or has no default-exported function. */
  SANDBOX_INVALID: 'QTASKS_ERR_SANDBOX_INVALID',
  /** A sandbox crashed, ran out of memory or was terminated while running a task. */
  SANDBOX_CRASHED: 'QTASKS_ERR_SANDBOX_CRASHED',
  /** Some items of a bulk add were not sent (the others were). */
  BULK_ADD_FAILED: 'QTASKS_ERR_BULK_ADD_FAILED',
} as const);

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface QTasksErrorOptions {
  cause?: unknown;
}

/** The base class of every error qtasks throws. */
export class QTasksError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: QTasksErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QTasksError';
    this.code = code;
  }
}

/** A tap failed; `hook` is like `broker.beforePublish`, `plugin` the tap's name. */
export class HookError extends QTasksError {
  readonly hook: string;
  readonly plugin: string;

  constructor(hook: string, plugin: string, cause: unknown) {
    super(ErrorCodes.HOOK_FAILED, `hook ${hook} failed in plugin "${plugin}": ${messageOf(cause)}`, { cause });
    this.name = 'HookError';
    this.hook = hook;
    this.plugin = plugin;
  }
}

/** Waiting for a task's outcome timed out. The task itself keeps going; `taskId` lets the caller look it up later. */
export class WaitTimeoutError extends QTasksError {
  readonly taskId: string;

  constructor(taskId: string, timeoutMs: number) {
    super(ErrorCodes.WAIT_TIMEOUT, `task ${taskId} did not finish within ${timeoutMs} ms`);
    this.name = 'WaitTimeoutError';
    this.taskId = taskId;
  }
}

/** Throw from a handler (or call ctx.cancel) to end the task in status `cancel`. Never retried. */
export class TaskCancelError extends QTasksError {
  constructor(reason = 'cancelled') {
    super(ErrorCodes.TASK_CANCELLED, reason);
    this.name = 'TaskCancelError';
  }
}

/** The handler ran past the task's maxTime. */
export class TaskTimeoutError extends QTasksError {
  constructor(maxTimeMs: number) {
    super(ErrorCodes.TASK_TIMEOUT, `task exceeded its maxTime of ${maxTimeMs} ms`);
    this.name = 'TaskTimeoutError';
  }
}

/** Throw from a handler to fail the task now, without the retries it has left. */
export class NoRetryError extends Error {
  constructor(message: string, options?: QTasksErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NoRetryError';
  }
}

/** Throw from a handler to retry after `delayMs` (it still counts as an attempt). */
export class RetryLaterError extends Error {
  readonly delayMs: number;

  constructor(delayMs: number, message = `retry requested in ${delayMs} ms`) {
    super(message);
    this.name = 'RetryLaterError';
    this.delayMs = delayMs;
  }
}

/**
 * Throw from a handler when the service it calls says "too many requests" (an HTTP 429): the task
 * goes back to its queue and runs again after `retryAfterMs`, without spending an attempt.
 */
export class RateLimitError extends Error {
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message = `rate limited: run again in ${retryAfterMs} ms`) {
    super(message);
    this.name = 'RateLimitError';
    this.retryAfterMs = Number.isFinite(retryAfterMs) && retryAfterMs >= 0 ? retryAfterMs : 1_000;
  }
}

/** Thrown by broker and storage plugins when their connection is gone. */
export class ConnectionClosedError extends QTasksError {
  constructor(what: string, options?: QTasksErrorOptions) {
    super(ErrorCodes.CONNECTION_CLOSED, `${what}: connection closed`, options);
    this.name = 'ConnectionClosedError';
  }
}

/**
 * `err` as a QTasksError: unchanged when it already is one, otherwise wrapped with `code` and a
 * message saying `what` failed, the original as `cause`. Plugins wrap driver errors with it.
 */
export function asQTasksError(err: unknown, code: ErrorCode, what: string): QTasksError {
  if (err instanceof QTasksError) return err;
  return new QTasksError(code, `${what}: ${messageOf(err)}`, { cause: err });
}

/** A description of any value; never throws (a thrown value's toJSON, toString or getters may). */
export function messageOf(value: unknown): string {
  try {
    if (isError(value)) return String(value.message);
    if (typeof value === 'string') return value;
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return `an unprintable ${typeof value}`;
    }
  }
}

/** Handlers may throw anything; the kernel only deals with Errors. */
export function toError(value: unknown): Error {
  if (isError(value)) return value;
  const err = new QTasksError(ErrorCodes.NON_ERROR_THROWN, `non-Error thrown: ${messageOf(value)}`);
  return err;
}

/** `instanceof Error`, false instead of a throw for a proxy whose prototype trap throws. */
function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}
