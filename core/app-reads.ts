/**
 * The app's reads: a task's record (`get`), the wait for its final record (`wait`, and addTask's
 * `timeout`), and the liveness of its workers (`ping`, `workers`). Plugin failures reach the
 * caller as QTasksError (pluginError).
 */
import type { QueueTasks } from './app.js';
import { pluginError, type AppLifecycle } from './app-lifecycle.js';
import type { WorkerInfo } from './contracts.js';
import { ErrorCodes, QTasksError, WaitTimeoutError } from './errors.js';
import type { TaskRecord } from './record.js';

/** The final record `waiting` resolves to (through `storage.afterGet`), or WaitTimeoutError when the wait ran out. */
export async function finalOf(app: QueueTasks, id: string, timeoutMs: number, waiting: Promise<TaskRecord | undefined>): Promise<TaskRecord> {
  const record = await waiting;
  if (record === undefined) throw new WaitTimeoutError(id, timeoutMs);
  return app.hooks.storage.afterGet.isUsed() ? app.hooks.storage.afterGet.call(record) : record;
}

export async function waitFor(app: QueueTasks, run: AppLifecycle, id: string, timeoutMs: number): Promise<TaskRecord> {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `wait: timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`);
  }
  const parts = await run.ready('wait');
  try {
    return await finalOf(app, id, timeoutMs, parts.storage.waitFinal(id, timeoutMs));
  } catch (err) {
    throw pluginError(err, `wait for task ${id}`);
  }
}

export async function getRecord(app: QueueTasks, run: AppLifecycle, id: string): Promise<TaskRecord | undefined> {
  const parts = await run.ready('get');
  const record = await parts.storage.get(id).catch((err: unknown) => {
    throw pluginError(err, `get of task ${id}`);
  });
  if (record === undefined) return undefined;
  return app.hooks.storage.afterGet.isUsed() ? app.hooks.storage.afterGet.call(record) : record;
}

export async function ping(run: AppLifecycle): Promise<boolean> {
  const parts = await run.ready('ping');
  return parts.globalConfig.alive().catch((err: unknown) => {
    throw pluginError(err, 'ping');
  });
}

export async function workers(run: AppLifecycle): Promise<WorkerInfo[]> {
  const parts = await run.ready('workers');
  return parts.globalConfig.workers().catch((err: unknown) => {
    throw pluginError(err, 'workers');
  });
}
