/**
 * Queue-level limits (`app.queue(name, { rateLimit, globalConcurrency })`): app-wide limits that
 * every task run from that queue takes, beside its own task limits. Kept per app instance, read
 * by the worker's flow gate (gate.ts) for each delivery of a limited queue.
 */
import { ErrorCodes, QTasksError } from '../errors.js';
import { rejectUnknownKeys } from '../options.js';

/** Limits shared by every task of a queue (docs/flow-control.md). */
export interface QueueOptions {
  /**
   * At most `max` runs of the queue's tasks (all of them together) start in any window of `perMs`
   * ms, across every worker of the app; with `key`, per value it returns for a call's args.
   */
  readonly rateLimit?: QueueRateLimit;
  /** At most this many of the queue's tasks run at once across every worker of the app. */
  readonly globalConcurrency?: number;
}

export interface QueueRateLimit {
  readonly max: number;
  readonly perMs: number;
  /** The limit's key for one call (its args, whatever task of the queue it is). */
  readonly key?: (...args: never[]) => string;
}

const byApp = new WeakMap<object, Map<string, QueueOptions>>();

/** Stores the limits of `queue` for `app`, before it starts (checked: INVALID_OPTION naming what is wrong); returns `app`. */
export function defineQueue<A extends { readonly name: string; readonly state: string }>(app: A, queue: string, options: QueueOptions): A {
  // read at the worker's start (requireLimiter): a later change would not be enforced
  if (app.state !== 'created') throw new QTasksError(ErrorCodes.ALREADY_STARTED, `cannot set limits of queue "${String(queue)}": app "${app.name}" is ${app.state}`);
  if (typeof queue !== 'string' || queue === '') throw invalid(`queue: the name must be a non-empty string, got ${JSON.stringify(queue)}`);
  if (options === null || typeof options !== 'object') throw invalid(`queue "${queue}": options { rateLimit?, globalConcurrency? } are required`);
  rejectUnknownKeys(options, { rateLimit: true, globalConcurrency: true }, `queue "${queue}"`);
  const g = options.globalConcurrency;
  if (g !== undefined && !(typeof g === 'number' && Number.isInteger(g) && g >= 1)) throw invalid(`queue "${queue}": globalConcurrency must be a whole number >= 1, got ${String(g)}`);
  const r = options.rateLimit;
  if (r !== undefined) {
    if (r === null || typeof r !== 'object') throw invalid(`queue "${queue}": rateLimit must be { max, perMs, key? }`);
    rejectUnknownKeys(r, { max: true, perMs: true, key: true }, `rateLimit of queue "${queue}"`);
    if (!(typeof r.max === 'number' && Number.isInteger(r.max) && r.max >= 1)) throw invalid(`queue "${queue}": rateLimit.max must be a whole number >= 1, got ${String(r.max)}`);
    if (!(typeof r.perMs === 'number' && Number.isInteger(r.perMs) && r.perMs >= 1)) throw invalid(`queue "${queue}": rateLimit.perMs must be a whole number of ms >= 1, got ${String(r.perMs)}`);
    if (r.key !== undefined && typeof r.key !== 'function') throw invalid(`queue "${queue}": rateLimit.key must be a function of the task's args`);
  }
  let queues = byApp.get(app);
  if (queues === undefined) byApp.set(app, (queues = new Map()));
  if (g === undefined && r === undefined) queues.delete(queue);
  else queues.set(queue, { ...(r !== undefined ? { rateLimit: r } : {}), ...(g !== undefined ? { globalConcurrency: g } : {}) });
  return app;
}

/** The limited queues of `app` (undefined when it has none: the usual case). */
export function queueOptionsOf(app: object): ReadonlyMap<string, QueueOptions> | undefined {
  const queues = byApp.get(app);
  return queues === undefined || queues.size === 0 ? undefined : queues;
}

function invalid(message: string): QTasksError {
  return new QTasksError(ErrorCodes.INVALID_OPTION, message);
}
