/**
 * The kernel's half of running a chain: the worker that ends a step calls `advance` before it
 * settles the step. A success enqueues the next step under its derived id; a step that ends
 * otherwise writes the chain's record (the workflow's id) with the step's error. Done before the
 * step is settled, so a worker killed in between leaves the step to be redelivered, and the
 * redelivery enqueues the same id again, which every broker takes once (a caller-chosen id).
 */
import type { QueueTasks } from '../app.js';
import { enqueue, type EnqueueParts } from '../enqueue.js';
import type { LoggerLike } from '../logger.js';
import { TaskStatus, recordOf, type TaskMessage, type TaskRecord } from '../record.js';
import { WORKFLOW_META, linkOf, stepId } from './link.js';

export async function advance(app: QueueTasks, parts: EnqueueParts, message: TaskMessage, record: TaskRecord, log: LoggerLike): Promise<void> {
  const link = linkOf(message.meta);
  if (link === undefined || link.index >= link.steps.length - 1) return;
  const ttlMs = app.config.resultTtlMs;
  if (record.status === TaskStatus.SUCCESS) {
    const index = link.index + 1;
    const next = link.steps[index]!;
    const id = stepId(link, index);
    const meta = { ...message.meta, [WORKFLOW_META]: { ...link, index } };
    // A caller-chosen id: every broker enqueues it once (docs/flow-control.md), so a redelivered
    // step that enqueues it again gets the existing task back.
    const options = { id, queue: next.queue, priority: next.priority, delay: next.delay, meta };
    // Results travel as stored (plain JSON); a step that returned nothing passes null.
    await enqueue(app, parts, next.name, [record.returning ?? null], options, undefined, true);
    log.debug({ workflow: link.id, step: index, taskId: id }, 'workflow: next step enqueued');
    return;
  }
  if (record.status !== TaskStatus.ERROR && record.status !== TaskStatus.CANCEL && record.status !== TaskStatus.DEAD) return;
  const last = link.steps[link.steps.length - 1]!;
  const now = Date.now();
  const n = link.steps.length;
  const what = `chain step ${link.index + 1} of ${n} (task "${message.name}", id ${message.id}) ended in ${record.status}`;
  const detail = record.error?.message ?? record.reason;
  const failed = recordOf(
    { id: link.id, name: last.name, queue: last.queue ?? app.config.defaultQueue, args: [], priority: last.priority ?? app.config.defaultPriority, createdAt: message.createdAt, maxDeliveries: 1, meta: message.meta },
    record.status,
    0,
    now,
    {
      finishedAt: now,
      error: { name: record.error?.name ?? 'QTasksError', message: detail === undefined ? what : `${what}: ${detail}`, ...(record.error?.code !== undefined ? { code: record.error.code } : {}) },
      ...(record.reason !== undefined ? { reason: record.reason } : {}),
    },
  );
  await parts.storage.save(failed, { ttlMs });
  log.warn({ workflow: link.id, step: link.index, taskId: message.id }, 'workflow: a step failed; the chain stops');
}
