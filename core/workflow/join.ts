/**
 * The kernel's half of running a group, a chord or a flow parent: a member that ended is counted,
 * and the member whose count completes the group moves the workflow on (the chord's callback
 * enqueued under the workflow's id, the next chain step, the flow parent, or the group's record
 * written). With a storage that has `join` (memory, Redis; RabbitMQ uses the Redis storage) this
 * happens before the worker stores the member's outcome (`advance`, advance.ts): the member is
 * counted in one atomic step that also stores its record, except for the member that completes
 * the group, whose record the worker stores only after it moved the workflow on. So a worker killed
 * in between leaves that member unsettled and not final: its redelivery runs and joins again (a
 * set of members, not a counter: counted once) and moves the workflow on again, under the same
 * ids. Without `join` (a custom storage) the member, once stored, scans its siblings' records
 * (join-scan.ts): `join` below, which the worker calls after the store.
 */
import type { QueueTasks } from '../app.js';
import { enqueue, type EnqueueParts } from '../enqueue.js';
import type { LoggerLike } from '../logger.js';
import { TaskStatus, isFinal, recordOf, type TaskMessage, type TaskRecord } from '../record.js';
import { sendStep } from './advance.js';
import { recheck } from './guard.js';
import { scan } from './join-scan.js';
import { CHILDREN_META, WORKFLOW_META, groupLinkOf, memberId, rootOf, type ChildResult, type GroupLink } from './link.js';

/** After the worker stored the member's outcome: the fallback scan, for a storage without `join`. */
export async function join(app: QueueTasks, parts: EnqueueParts, message: TaskMessage, record: TaskRecord, log: LoggerLike): Promise<void> {
  if (parts.storage.join === undefined) await joinGroup(app, parts, message, record, log);
}

/** Counts the member (join, or the scan) and, if it completes its group, moves the workflow on. */
export async function joinGroup(app: QueueTasks, parts: EnqueueParts, message: TaskMessage, record: TaskRecord, log: LoggerLike): Promise<void> {
  const link = groupLinkOf(message.meta);
  if (link === undefined || !isFinal(record.status)) return;
  const members = parts.storage.join !== undefined ? await counted(app, parts, link, record) : await scanned(app, parts, link, record);
  if (members === undefined) return;
  const results = members.map((r) => r.returning ?? null);
  const failed = members.find((r) => r.status !== TaskStatus.SUCCESS); // the first failed member, by index
  // Cancelled as a whole, or already moved on by a sibling that joined too: nothing to do. A `new`
  // record is the callback (root, last step) enqueued, or only reserved by a worker killed before
  // it published: enqueueing it again is taken once, or takes that reservation over
  // (Storage.reservePublish); writing the workflow's outcome over it is not done.
  const wf = await parts.storage.get(rootOf(link.id));
  if (wf !== undefined && wf.status !== TaskStatus.NEW) return;
  const onlyEnqueue = wf !== undefined;
  if (link.callback?.chain !== undefined && failed === undefined) return sendStep(app, parts, link.callback.chain, link.callback.chain.index, results, undefined, log);
  if (link.callback?.flow === true) return flowParent(app, parts, link, message, members, onlyEnqueue, log);
  if (failed !== undefined) return onlyEnqueue ? undefined : fail(app, parts, link, message, failed, log);
  if (link.callback !== undefined) {
    const cb = link.callback;
    await enqueue(app, parts, cb.name, [results], { id: link.id, queue: cb.queue, priority: cb.priority, delay: cb.delay }, undefined, true);
    log.debug({ workflow: link.id }, 'workflow: every member ended; chord callback enqueued');
    return;
  }
  if (onlyEnqueue) return;
  const now = Date.now();
  await parts.storage.save(recordOf(workflowMessage(app, link, message), TaskStatus.SUCCESS, 0, now, { finishedAt: now, returning: results }), { ttlMs: app.config.resultTtlMs });
}

/**
 * Storage.join: the members' records in order once this member's count completed the group, else
 * undefined. A member read back not final was redelivered after it joined and runs again: it will
 * join again (and see the full count), so this one stops. A record gone (expired: a result TTL
 * shorter than the group took) fails the group rather than leave it waiting forever.
 */
async function counted(app: QueueTasks, parts: EnqueueParts, link: GroupLink, record: TaskRecord): Promise<TaskRecord[] | undefined> {
  const storage = parts.storage;
  const count = await storage.join!({ group: link.id, member: link.index, size: link.size, record, ttlMs: app.config.resultTtlMs });
  if (count < link.size) return undefined;
  const ids = Array.from({ length: link.size }, (_, j) => memberId(link, j));
  const read = storage.getMany !== undefined ? await storage.getMany(ids) : await Promise.all(ids.map((id) => storage.get(id)));
  const members: TaskRecord[] = [];
  for (let j = 0; j < link.size; j++) {
    const r = j === link.index ? record : read[j];
    if (r === undefined) {
      const now = Date.now();
      const gone = { id: ids[j]!, name: 'unknown', queue: record.queue, args: [], priority: record.priority, createdAt: now, maxDeliveries: 1 };
      members.push(recordOf(gone, TaskStatus.ERROR, 0, now, { finishedAt: now, error: { name: 'QTasksError', message: 'its record expired before the group ended (resultTtlMs)' } }));
      continue;
    }
    if (!isFinal(r.status)) return undefined;
    members.push(r);
  }
  return members;
}

/** The fallback: store (a broker that keeps records writes them at the ack), then scan the siblings. */
async function scanned(app: QueueTasks, parts: EnqueueParts, link: GroupLink, record: TaskRecord): Promise<TaskRecord[] | undefined> {
  if (parts.fused) await parts.storage.save(record, { ttlMs: app.config.resultTtlMs });
  const found = await scan(app, parts, link, record);
  return found === undefined ? undefined : Array.from({ length: link.size }, (_, j) => found.get(j)!);
}

function workflowMessage(app: QueueTasks, link: GroupLink, message: TaskMessage): TaskMessage {
  const name = link.callback?.name ?? 'group';
  return { id: link.id, name, queue: link.callback?.queue ?? app.config.defaultQueue, args: [], priority: link.callback?.priority ?? app.config.defaultPriority, createdAt: message.createdAt, maxDeliveries: 1 };
}

/**
 * Every child of a flow parent ended: enqueue the parent (its own args, its children's outcomes in
 * meta, its own place in its parent), or, when a `failParent` child failed, fail it without running
 * and let the failure climb to its own parent.
 */
async function flowParent(app: QueueTasks, parts: EnqueueParts, link: GroupLink, message: TaskMessage, members: readonly TaskRecord[], onlyEnqueue: boolean, log: LoggerLike): Promise<void> {
  const cb = link.callback!;
  const children: ChildResult[] = [];
  for (const r of members) {
    if (r.status === TaskStatus.SUCCESS) {
      children.push({ id: r.id, name: r.name, status: r.status, returning: r.returning ?? null });
      continue;
    }
    const policy = groupLinkOf(r.meta)?.policy ?? 'failParent';
    if (policy === 'failParent') return onlyEnqueue ? undefined : fail(app, parts, link, message, r, log);
    if (policy === 'continue') children.push({ id: r.id, name: r.name, status: r.status, ...(r.error !== undefined ? { error: r.error } : {}) });
  }
  const meta = { [CHILDREN_META]: children, ...(cb.parentLink !== undefined ? { [WORKFLOW_META]: cb.parentLink } : {}) };
  await enqueue(app, parts, cb.name, cb.args ?? [], { id: link.id, queue: cb.queue, priority: cb.priority, delay: cb.delay, meta }, undefined, true);
  log.debug({ workflow: link.id }, 'workflow: every child ended; flow parent enqueued');
  if (link.id !== rootOf(link.id)) await recheck(app, parts, rootOf(link.id), [link.id], log);
}

async function fail(app: QueueTasks, parts: EnqueueParts, link: GroupLink, message: TaskMessage, member: TaskRecord, log: LoggerLike): Promise<void> {
  const now = Date.now();
  const what = `group member ${member.id} (task "${member.name}") ended in ${member.status}`;
  const detail = member.error?.message ?? member.reason;
  const error = { name: member.error?.name ?? 'QTasksError', message: detail === undefined ? what : `${what}: ${detail}`, ...(member.error?.code !== undefined ? { code: member.error.code } : {}) };
  const parentLink = link.callback?.parentLink;
  // A group inside a chain: the failure is the chain's (its record is the workflow's).
  const chainId = link.callback?.chain?.id;
  const own = { ...workflowMessage(app, link, message), ...(chainId !== undefined ? { id: chainId } : {}), ...(parentLink !== undefined ? { meta: { [WORKFLOW_META]: parentLink } } : {}) };
  const failed = recordOf(own, TaskStatus.ERROR, 0, now, { finishedAt: now, error });
  await parts.storage.save(failed, { ttlMs: app.config.resultTtlMs });
  log.warn({ workflow: link.id, taskId: member.id }, 'workflow: a member failed; its workflow (or flow parent) fails');
  // A flow parent failed without running: its own parent counts it as a child that ended.
  if (parentLink !== undefined) await joinGroup(app, { ...parts, fused: false }, own, failed, log);
}
