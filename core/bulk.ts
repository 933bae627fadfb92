/**
 * Bulk add: many calls checked first, then sent together. Every item is checked (name, args,
 * options) before anything is sent; a bad item fails the whole call, naming its index. Sending
 * issues every publish in the same turn of the event loop, so a broker that groups what one
 * turn publishes sends them together (Redis: one script call per 500 tasks; RabbitMQ: a burst
 * of publishes whose confirms are awaited together). Once sending starts, items succeed or fail
 * on their own: see docs/tasks.md#bulk-add for what is atomic.
 */
import type { QueueTasks } from './app.js';
import { checkCall, enqueue, type EnqueueParts } from './enqueue.js';
import { ErrorCodes, QTasksError, messageOf } from './errors.js';
import type { TaskRecord } from './record.js';
import { validate } from './schema.js';
import { checkTaskName, type AddTaskOptions } from './task.js';

/** Most items one bulk call takes; split larger sets into several calls. */
export const MAX_BULK_ITEMS = 100_000;

/** Per-call options of a bulk add: those of addTask without the waits. */
export type BulkAddOptions = Omit<AddTaskOptions, 'timeout' | 'onProgress'>;

/** One item of `app.addTasks`. */
export interface BulkItem {
  readonly name: string;
  readonly args?: readonly unknown[];
  readonly options?: BulkAddOptions;
}

/** Some items of a bulk add were not sent; `records[i]` is the record of item i if it was. */
export class BulkAddError extends QTasksError {
  readonly records: ReadonlyArray<TaskRecord | undefined>;
  readonly failures: ReadonlyArray<{ readonly index: number; readonly error: Error }>;

  constructor(records: Array<TaskRecord | undefined>, failures: Array<{ index: number; error: Error }>) {
    const first = failures[0]!;
    super(
      ErrorCodes.BULK_ADD_FAILED,
      `bulk add: ${failures.length} of ${records.length} items were not sent (item ${first.index}: ${messageOf(first.error)}); the others were`,
      { cause: first.error },
    );
    this.name = 'BulkAddError';
    this.records = records;
    this.failures = failures;
  }
}

async function checkItems(app: QueueTasks, items: readonly BulkItem[]): Promise<void> {
  if (!Array.isArray(items)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `bulk add takes an array of items, got ${typeof items}`);
  if (items.length > MAX_BULK_ITEMS) {
    throw new QTasksError(ErrorCodes.INVALID_ARGS, `bulk add of ${items.length} items: at most ${MAX_BULK_ITEMS} per call (split the set into several calls)`);
  }
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    try {
      if (item === null || typeof item !== 'object') throw new QTasksError(ErrorCodes.INVALID_ARGS, 'an item is { name, args, options }');
      checkTaskName(item.name);
      const options = (item.options ?? {}) as AddTaskOptions;
      if (options.timeout !== undefined || options.onProgress !== undefined) {
        throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${item.name}": timeout and onProgress are not available in a bulk add (wait with app.wait)`);
      }
      checkCall(item.name, item.args ?? [], options);
      const schema = app.tasks.get(item.name)?.options.args;
      if (schema !== undefined) await validate(schema, item.args ?? [], item.name, 'args', ErrorCodes.INVALID_ARGS);
    } catch (err) {
      const code = err instanceof QTasksError ? err.code : ErrorCodes.INVALID_ARGS;
      throw new QTasksError(code, `bulk add item ${i}: ${messageOf(err)}; nothing was sent`, { cause: err });
    }
  }
}

/** Checks every item, then sends them all; resolves with the records in input order. */
export async function enqueueMany(app: QueueTasks, parts: EnqueueParts, items: readonly BulkItem[]): Promise<TaskRecord[]> {
  await checkItems(app, items);
  if (items.length === 0) return [];
  // Every publish starts in this turn: the broker sees the whole set at once.
  const settled = await Promise.allSettled(items.map((item) => enqueue(app, parts, item.name, item.args ?? [], item.options ?? {}, undefined, true)));
  const records: Array<TaskRecord | undefined> = [];
  const failures: Array<{ index: number; error: Error }> = [];
  settled.forEach((s, index) => {
    if (s.status === 'fulfilled') records.push(s.value);
    else {
      records.push(undefined);
      failures.push({ index, error: s.reason instanceof Error ? s.reason : new Error(messageOf(s.reason)) });
    }
  });
  if (failures.length > 0) throw new BulkAddError(records, failures);
  return records as TaskRecord[];
}
