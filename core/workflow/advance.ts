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
import { ended, recheck } from './guard.js';
import { joinGroup } from './join.js';
import { WORKFLOW_META, groupLinkOf, linkOf, memberId, stepId, trimmed, type ChainLink, type GroupLink } from './link.js';

export async function advance(app: QueueTasks, parts: EnqueueParts, message: TaskMessage, record: TaskRecord, log: LoggerLike): Promise<void> {
  // A group member joins here, before its outcome is stored, when the storage counts (join.ts).
  if (parts.storage.join !== undefined && groupLinkOf(message.meta) !== undefined) return joinGroup(app, parts, message, record, log);
  const link = linkOf(message.meta);
  if (link === undefined || link.index >= link.steps.length - 1) return;
  if (record.status === TaskStatus.SUCCESS) {
    // A step that returned nothing passes null (results travel as stored: plain JSON).
    await sendStep(app, parts, link, link.index + 1, record.returning ?? null, message.meta, log);
    return;
  }
  if (record.status !== TaskStatus.ERROR && record.status !== TaskStatus.CANCEL && record.status !== TaskStatus.DEAD) return;
  // Cancelled as a whole (or already ended): the workflow's record says so; keep it.
  if (await ended(parts, link.id)) return;
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
  await parts.storage.save(failed, { ttlMs: app.config.resultTtlMs });
  log.warn({ workflow: link.id, step: link.index, taskId: message.id }, 'workflow: a step failed; the chain stops');
}

/**
 * Enqueues chain step `index` with `input` as its argument: a task, or a group's members (each
 * with its own args; the step after it, if any, is their callback and gets their results). Not
 * when the workflow ended (cancelled); and if it was cancelled while enqueueing, what was
 * enqueued is cancelled (the cancel takes the workflow's id first, then reads the steps).
 */
export async function sendStep(app: QueueTasks, parts: EnqueueParts, link: ChainLink, index: number, input: unknown, meta: Readonly<Record<string, unknown>> | undefined, log: LoggerLike): Promise<void> {
  const next = link.steps[index]!;
  const id = stepId(link, index);
  const last = index === link.steps.length - 1;
  // The last plain step's id is the workflow's: a cancel that took it makes its enqueue a no-op.
  if (!(last && next.group === undefined) && (await ended(parts, link.id))) return;
  const sent: string[] = [];
  if (next.group === undefined) {
    const options = { id, queue: next.queue, priority: next.priority, delay: next.delay, meta: { ...meta, [WORKFLOW_META]: { ...link, index } } };
    await enqueue(app, parts, next.name, [input], options, undefined, true);
    sent.push(id);
  } else {
    const after = link.steps[index + 1];
    const callback = after === undefined ? undefined : { name: after.name, chain: { ...trimmed(link, index), index: index + 1 } };
    const size = next.group.length;
    await Promise.all(
      next.group.map(async (m, j) => {
        const member: GroupLink = { kind: 'group', id, index: j, size, ...(callback !== undefined ? { callback } : {}) };
        const mid = memberId(member, j);
        await enqueue(app, parts, m.name, m.args, { id: mid, queue: m.queue, priority: m.priority, delay: m.delay, meta: { [WORKFLOW_META]: member } }, undefined, true);
        sent.push(mid);
      }),
    );
  }
  log.debug({ workflow: link.id, step: index, taskId: id }, 'workflow: next step enqueued');
  if (!(last && next.group === undefined)) await recheck(app, parts, link.id, sent, log);
}
