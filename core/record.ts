/**
 * What a task is on the wire (TaskMessage) and in storage (TaskRecord).
 */
import { messageOf } from './errors.js';

/** Task statuses: QTasks' five, `retry` (waiting for its next attempt) and `dead` (dead-lettered). */
export const TaskStatus = Object.freeze({
  NEW: 'new',
  PROCESS: 'process',
  SUCCESS: 'success',
  ERROR: 'error',
  CANCEL: 'cancel',
  RETRY: 'retry',
  DEAD: 'dead',
} as const);

export type TaskStatusName = (typeof TaskStatus)[keyof typeof TaskStatus];

/** Statuses after which nothing more happens to a task. */
export const FINAL_STATUSES: ReadonlySet<TaskStatusName> = new Set<TaskStatusName>([
  TaskStatus.SUCCESS,
  TaskStatus.ERROR,
  TaskStatus.CANCEL,
  TaskStatus.DEAD,
]);

export function isFinal(status: TaskStatusName): boolean {
  return FINAL_STATUSES.has(status);
}

/** The immutable part of a task that travels through the broker. */
export interface TaskMessage {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly args: readonly unknown[];
  /** Lower runs first; FIFO within one priority. */
  readonly priority: number;
  /** Epoch ms. */
  readonly createdAt: number;
  /** A delivery beyond this count is dead-lettered without running (a task that keeps killing workers). */
  readonly maxDeliveries: number;
  /** Free-form data for plugins (trace ids, reply addresses...). Must be JSON. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

export interface TaskErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
}

/** What storage keeps about a task; `get(id)` and awaited results return this. */
export interface TaskRecord<A extends readonly unknown[] = readonly unknown[], R = unknown> {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly args: A;
  readonly priority: number;
  readonly status: TaskStatusName;
  /** Deliveries so far (1 while the first attempt runs). Storage writes are fenced on it. */
  readonly attempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** For status `retry` and delayed tasks: when the next attempt may start (epoch ms). */
  readonly runAt?: number;
  readonly returning?: R;
  readonly error?: TaskErrorInfo;
  /** Why a task was cancelled or dead-lettered. */
  readonly reason?: string;
  /** The last value the task reported (`ctx.progress`, a generator's yield), for this attempt. */
  readonly progress?: unknown;
  /** The lines the attempt logged with `ctx.log` (its last `maxLogLines`). */
  readonly logs?: readonly string[];
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * Set while an attempt runs alone under suspicion (an earlier delivery was lost with its worker):
   * which attempt, and how many deliveries had been lost before it. Read back at the next
   * delivery: if that attempt was lost too, the task took its worker down on its own.
   */
  readonly alone?: { readonly attempt: number; readonly lost: number };
  /**
   * Only on what `addTask` returns, never stored: true when the call was deduplicated (an `id` or
   * `dedup` key matched a task that exists) and this is that task's record.
   */
  readonly deduplicated?: true;
}

/** The parts of a record that change as a task runs. */
export interface RecordFields {
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly runAt?: number;
  readonly returning?: unknown;
  readonly error?: TaskErrorInfo;
  readonly reason?: string;
  readonly progress?: unknown;
  readonly logs?: readonly string[];
}

const NO_FIELDS: RecordFields = Object.freeze({});

/**
 * A record for `message` in `status`. Every record has the same shape (absent fields are
 * undefined), which keeps the hot path monomorphic; JSON drops the undefined ones.
 */
export function recordOf(message: TaskMessage, status: TaskStatusName, attempts: number, now: number, fields: RecordFields = NO_FIELDS): TaskRecord {
  return {
    id: message.id,
    name: message.name,
    queue: message.queue,
    args: message.args,
    priority: message.priority,
    status,
    attempts,
    createdAt: message.createdAt,
    updatedAt: now,
    startedAt: fields.startedAt,
    finishedAt: fields.finishedAt,
    runAt: fields.runAt,
    returning: fields.returning,
    error: fields.error,
    reason: fields.reason,
    progress: fields.progress,
    logs: fields.logs,
    meta: message.meta,
  };
}

export function messageToRecord(message: TaskMessage, now: number, runAt?: number): TaskRecord {
  return recordOf(message, TaskStatus.NEW, 0, now, runAt !== undefined && runAt > now ? { runAt } : NO_FIELDS);
}

/**
 * What a record keeps of an error: strings only, read defensively (a thrown object's getters may
 * throw too; describing a failure must not become a second one).
 */
export function errorInfo(err: Error): TaskErrorInfo {
  const name = readString(err, 'name') ?? 'Error';
  const message = readString(err, 'message') ?? messageOf(err);
  const stack = readString(err, 'stack');
  const code = readString(err, 'code');
  return {
    name,
    message,
    ...(stack !== undefined ? { stack } : {}),
    ...(code !== undefined ? { code } : {}),
  };
}

function readString(err: Error, key: 'name' | 'message' | 'stack' | 'code'): string | undefined {
  try {
    const v = (err as unknown as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks that a decoded payload has the shape of a TaskMessage. Brokers call it on receipt;
 * a string return is the reason the message is malformed.
 */
export function validateMessage(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'message is not an object';
  const m = value as Record<string, unknown>;
  if (typeof m.id !== 'string' || m.id === '') return 'message has no id';
  if (typeof m.name !== 'string' || m.name === '') return 'message has no task name';
  if (typeof m.queue !== 'string') return 'message has no queue';
  if (!Array.isArray(m.args)) return 'message args are not an array';
  if (typeof m.priority !== 'number' || !Number.isFinite(m.priority)) return 'message priority is not a number';
  if (typeof m.createdAt !== 'number') return 'message has no createdAt';
  if (typeof m.maxDeliveries !== 'number' || m.maxDeliveries < 1) return 'message has no maxDeliveries';
  return undefined;
}
