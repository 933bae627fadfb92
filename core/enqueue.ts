/**
 * The enqueue path of `addTask`: check the call, build the message, let `broker.beforePublish`
 * change it, store the `new` record (unless the broker keeps records itself) and publish.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from './app.js';
import type { Broker, Storage } from './contracts.js';
import { ErrorCodes, QTasksError, messageOf, type ErrorCode } from './errors.js';
import { NotPlainJson, toPlainJson } from './json.js';
import { ADD_TASK_OPTION_KEYS, rejectUnknownKeys } from './options.js';
import { messageToRecord, type TaskMessage, type TaskRecord } from './record.js';
import { validate } from './schema.js';
import type { AddTaskOptions } from './task.js';

export interface EnqueueParts {
  readonly broker: Broker;
  readonly storage: Storage;
  /** The broker writes records itself (it is the app's storage). */
  readonly fused: boolean;
}

/**
 * Checks the call: options in range, arguments and meta plain JSON (brokers get nothing they could
 * fail to encode). Bulk add runs it on every item first.
 */
export function checkCall(name: string, args: readonly unknown[], options: AddTaskOptions): void {
  if (!Array.isArray(args)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `task "${name}": args must be an array, got ${typeof args}`);
  rejectUnknownKeys(options, ADD_TASK_OPTION_KEYS, `addTask of task "${name}"`);
  for (const key of ['priority', 'delay', 'timeout'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || (key !== 'priority' && v < 0))) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": ${key} must be a finite number${key === 'priority' ? '' : ' >= 0'}, got ${String(v)}`);
    }
  }
  // What the handler receives must equal what the caller passed, on every broker.
  plain(args, 'args', ErrorCodes.INVALID_ARGS, name, 'args must be JSON-serializable');
  const meta = options.meta;
  if (meta === undefined) return;
  if (!isPlainObject(meta)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": meta must be a plain object of JSON values, got ${describe(meta)}`);
  }
  plain(meta, 'meta', ErrorCodes.INVALID_OPTION, name, 'meta must be a plain object of JSON values');
}

function plain(value: unknown, root: string, code: ErrorCode, name: string, rule: string): void {
  try {
    toPlainJson(value);
  } catch (err) {
    const detail = err instanceof NotPlainJson ? err.describe(root) : `${root} threw: ${messageOf(err)}`;
    const cause = err instanceof NotPlainJson ? err.cause : err;
    throw new QTasksError(code, `task "${name}": ${detail}; ${rule}`, cause === undefined ? undefined : { cause });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const proto = Object.getPrototypeOf(value) as unknown;
    return proto === Object.prototype || proto === null;
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'a non-plain object' : `a ${typeof value}`;
}

/**
 * Publishes one call of task `name`; resolves with its record in status `new` once the broker has
 * it. `beforePublish` gets the final id just before the task can run anywhere.
 */
export async function enqueue(
  app: QueueTasks,
  parts: EnqueueParts,
  name: string,
  args: readonly unknown[],
  options: AddTaskOptions,
  beforePublish?: (id: string) => void,
  checked = false,
): Promise<TaskRecord> {
  const def = app.tasks.get(name);
  if (!checked) {
    checkCall(name, args, options);
    // Checked here so that nothing is sent; the input (JSON) travels, the worker transforms it.
    if (def?.options.args !== undefined) await validate(def.options.args, args, name, 'args', ErrorCodes.INVALID_ARGS);
  }
  const config = app.config;
  const now = Date.now();
  let message: TaskMessage = {
    id: randomUUID(),
    name,
    queue: options.queue ?? def?.options.queue ?? config.defaultQueue,
    args,
    priority: options.priority ?? def?.options.priority ?? config.defaultPriority,
    createdAt: now,
    maxDeliveries: (def?.options.retry ?? 0) + 1 + config.extraDeliveries,
    ...(options.meta !== undefined ? { meta: options.meta } : {}),
  };
  const delayMs = options.delay ?? def?.options.delay ?? 0;
  const hooks = app.hooks.broker;
  if (hooks.beforePublish.isUsed()) {
    // A tap may return anything: what reaches the broker is plain JSON all the same.
    message = await hooks.beforePublish.promise(message, { app, delayMs });
  }
  let record: TaskRecord;
  try {
    if (hooks.beforePublish.isUsed()) plain(message, 'message', ErrorCodes.INVALID_ARGS, name, 'broker.beforePublish must return a plain JSON message');
    record = messageToRecord(message, now, now + delayMs);
    beforePublish?.(message.id);
    if (!parts.fused) await parts.storage.save(record, { ttlMs: config.resultTtlMs });
    await parts.broker.publish(message, { delayMs, record, awaitsResult: options.timeout !== undefined });
  } catch (err) {
    if (hooks.publishFailed.isUsed()) publishFailed(app, message, err);
    throw err;
  }
  if (hooks.afterPublish.isUsed()) hooks.afterPublish.call(message);
  return record;
}

/** `broker.publishFailed` is a notification: a tap that throws is logged, the caller gets the publish error. */
function publishFailed(app: QueueTasks, message: TaskMessage, err: unknown): void {
  try {
    app.hooks.broker.publishFailed.call(message, err instanceof Error ? err : new Error(messageOf(err)));
  } catch (tapErr) {
    app.logger('QueueTasks').error({ err: tapErr, taskId: message.id }, 'a broker.publishFailed tap failed');
  }
}
