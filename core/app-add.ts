/**
 * The app's adds: `addTask` (with its optional wait for the final record and its onProgress
 * events) and `addTasks` (the bulk add of core/bulk.ts). Every failure reaches the caller as a
 * QTasksError (pluginError).
 */
import type { QueueTasks } from './app.js';
import { pluginError, type AppLifecycle, type Parts } from './app-lifecycle.js';
import { enqueueMany, type BulkItem } from './bulk.js';
import { enqueue } from './enqueue.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { finalOf } from './app-reads.js';
import type { TaskRecord } from './record.js';
import { checkTaskName, type AddTaskOptions } from './task.js';

export async function addTask(app: QueueTasks, run: AppLifecycle, name: string, args: readonly unknown[], options: AddTaskOptions): Promise<TaskRecord> {
  checkTaskName(name);
  let waiting: Promise<TaskRecord | undefined> | undefined;
  try {
    // Started is the usual case: no extra await per call on the hot path.
    const parts = run.live ?? (await run.ready('addTask'));
    const timeout = options.timeout;
    if (options.onProgress !== undefined) return await addWatched(app, run, parts, name, args, options);
    if (timeout === undefined) return await enqueue(app, parts, name, args, options);
    // The wait begins before the publish: a task that finishes, and whose record expires (a short
    // result TTL), before a later wait could look would otherwise be missed.
    if (parts.storage.prepareWait !== undefined) await parts.storage.prepareWait();
    const record = await enqueue(app, parts, name, args, options, (id) => (waiting = parts.storage.waitFinal(id, timeout)));
    return await finalOf(app, record.id, timeout, waiting!);
  } catch (err) {
    waiting?.catch(() => undefined); // the publish failed: nobody reads this wait
    throw pluginError(err, `addTask of task "${name}"`);
  }
}

export async function addTasks(app: QueueTasks, run: AppLifecycle, items: readonly BulkItem[]): Promise<TaskRecord[]> {
  const parts = run.live ?? (await run.ready('addTasks'));
  try {
    return await enqueueMany(app, parts, items);
  } catch (err) {
    throw pluginError(err, 'addTasks');
  }
}

/**
 * addTask with onProgress: listen to the task's events before it can run, call onProgress per
 * progress value, and resolve once the final record and the task's last event are both in (so
 * no value reported before the end arrives after the caller moved on).
 */
async function addWatched(app: QueueTasks, run: AppLifecycle, parts: Parts, name: string, args: readonly unknown[], options: AddTaskOptions): Promise<TaskRecord> {
  const { onProgress, timeout } = options;
  if (typeof onProgress !== 'function' || timeout === undefined) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": onProgress must be a function and needs timeout (the wait it reports during)`);
  }
  run.controlPlane('addTask').require('progress');
  await app.events.ready();
  let off: (() => void) | undefined;
  let ended: (() => void) | undefined;
  const last = new Promise<void>((resolve) => (ended = resolve));
  const rest = { ...options, onProgress: undefined };
  let waiting: Promise<TaskRecord | undefined> | undefined;
  if (parts.storage.prepareWait !== undefined) await parts.storage.prepareWait();
  try {
    const record = await enqueue(app, parts, name, args, rest, (id) => {
      off = app.events.forTask(id, (event) => {
        if (event.type === 'progress') {
          try {
            onProgress(event.progress);
          } catch (err) {
            app.logger('QueueTasks').error({ err, taskId: id }, 'an onProgress callback threw');
          }
        } else if (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled' || event.type === 'dead') ended!();
      });
      waiting = parts.storage.waitFinal(id, timeout);
    });
    const final = await finalOf(app, record.id, timeout, waiting!);
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([last, new Promise<void>((resolve) => (grace = setTimeout(resolve, 1_000)))]);
    clearTimeout(grace);
    return final;
  } catch (err) {
    waiting?.catch(() => undefined);
    throw err;
  } finally {
    off?.();
  }
}
