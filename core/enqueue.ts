/**
 * The enqueue path of `addTask`: check the call, build the message, let `broker.beforePublish`
 * change it, store the `new` record (unless the broker keeps records itself) and publish.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from './app.js';
import type { Broker, Storage } from './contracts.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { jsonProblem, messageToRecord, type TaskMessage, type TaskRecord } from './record.js';
import type { AddTaskOptions } from './task.js';

export interface EnqueueParts {
  readonly broker: Broker;
  readonly storage: Storage;
  /** The broker writes records itself (it is the app's storage). */
  readonly fused: boolean;
}

function checkCall(name: string, args: readonly unknown[], options: AddTaskOptions): void {
  if (!Array.isArray(args)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `task "${name}": args must be an array, got ${typeof args}`);
  for (const key of ['priority', 'delay', 'timeout'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || (key !== 'priority' && v < 0))) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": ${key} must be a finite number${key === 'priority' ? '' : ' >= 0'}, got ${String(v)}`);
    }
  }
  // What the handler receives must equal what the caller passed, on every broker.
  const problem = jsonProblem(args);
  if (problem !== undefined) throw new QTasksError(ErrorCodes.INVALID_ARGS, `task "${name}": args${problem}; args must be JSON-serializable`);
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
): Promise<TaskRecord> {
  checkCall(name, args, options);
  const def = app.tasks.get(name);
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
  if (hooks.beforePublish.isUsed()) message = await hooks.beforePublish.promise(message, { app, delayMs });
  const record = messageToRecord(message, now, now + delayMs);
  beforePublish?.(message.id);
  if (!parts.fused) await parts.storage.save(record, { ttlMs: config.resultTtlMs });
  await parts.broker.publish(message, { delayMs, record, awaitsResult: options.timeout !== undefined });
  if (hooks.afterPublish.isUsed()) hooks.afterPublish.call(message);
  return record;
}
