/**
 * The kernel's half of running a group or chord: a member that ended stores its outcome, then
 * reads its siblings' records; the member that finds them all final moves the workflow on (the
 * chord's callback enqueued under the workflow's id, or the group's record written). Each member
 * stores before it reads, so of two members ending together at least one sees both final; both
 * may, and the callback's id makes the second enqueue a no-op. Done before the member is acked: a
 * worker killed in between leaves the member to be redelivered, and it joins again.
 */
import type { QueueTasks } from '../app.js';
import { enqueue, type EnqueueParts } from '../enqueue.js';
import type { LoggerLike } from '../logger.js';
import { TaskStatus, isFinal, recordOf, type TaskMessage, type TaskRecord } from '../record.js';
import { sendStep } from './advance.js';
import { ended, recheck } from './guard.js';
import { CHILDREN_META, WORKFLOW_META, groupLinkOf, memberId, rootOf, stepId, type ChildResult, type GroupLink } from './link.js';

export async function join(app: QueueTasks, parts: EnqueueParts, message: TaskMessage, record: TaskRecord, log: LoggerLike): Promise<void> {
  const link = groupLinkOf(message.meta);
  if (link === undefined || !isFinal(record.status)) return;
  const ttlMs = app.config.resultTtlMs;
  // A broker that keeps records writes them at the ack: store first, or no sibling could see it.
  if (parts.fused) await parts.storage.save(record, { ttlMs });
  const found = await scan(app, parts, link, record);
  if (found === undefined) return;
  const members = Array.from({ length: link.size }, (_, j) => found.get(j)!);
  const results = members.map((r) => r.returning ?? null);
  const failed = members.find((r) => r.status !== TaskStatus.SUCCESS); // the first failed member, by index
  // Cancelled as a whole, or already moved on by a sibling that joined too: nothing to do.
  if (await ended(parts, rootOf(link.id))) return;
  if (link.callback?.chain !== undefined && failed === undefined) return sendStep(app, parts, link.callback.chain, link.callback.chain.index, results, undefined, log);
  if (link.callback?.flow === true) return flowParent(app, parts, link, message, members, log);
  if (failed !== undefined) return fail(app, parts, link, message, failed, log);
  if (link.callback !== undefined) {
    const cb = link.callback;
    await enqueue(app, parts, cb.name, [results], { id: link.id, queue: cb.queue, priority: cb.priority, delay: cb.delay }, undefined, true);
    log.debug({ workflow: link.id }, 'workflow: every member ended; chord callback enqueued');
    return;
  }
  const now = Date.now();
  await parts.storage.save(recordOf(workflowMessage(app, link, message), TaskStatus.SUCCESS, 0, now, { finishedAt: now, returning: results }), { ttlMs });
}


/**
 * Reads the siblings; undefined when one is still running (it will join) or when a sibling of this
 * process already found them all final (it joins). Downward from where this process's last scan of
 * the group found a member still running (at first: the last member), wrapping, in chunks read in
 * parallel (1, 2, 4 ... 256). Members run roughly in order, so the last ones and the last one
 * found running are the likeliest still running: most members stop at the first read, and a scan
 * does not re-read what earlier scans passed. Any order is correct (store, then read). Nothing is
 * sized by the group before the scan ends: most members stop at their first read.
 */
async function scan(app: QueueTasks, parts: EnqueueParts, link: GroupLink, record: TaskRecord): Promise<Map<number, TaskRecord> | undefined> {
  const found = new Map<number, TaskRecord>([[link.index, record]]);
  const hints = hintsOf(app, HINTS);
  const scans = hintsOf(app, SCANS);
  const start = Math.min(hints.get(link.id) ?? link.size - 1, link.size - 1);
  const chain = link.callback?.chain;
  const next = chain !== undefined ? stepId(chain, chain.index) : link.id;
  // The k-th member to read (computed, not listed).
  const sibling = (k: number): number => (start - k + link.size) % link.size;
  let mine: ((all: boolean) => void) | undefined;
  let all = false;
  try {
    for (let at = 0, chunk = 1; at < link.size; at += chunk, chunk = Math.min(chunk * 2, 256)) {
      if (at > 0 && mine === undefined) {
        // Members ending together at the end would each read the whole group: in one process, one
        // does, and the others wait for it; if it stops at a member still running, they go on.
        const other = scans.get(link.id);
        if (other !== undefined && (await other)) return undefined;
        if (other === undefined) scans.set(link.id, new Promise<boolean>((resolve) => (mine = resolve)));
      }
      const ids: number[] = [];
      for (let k = at; k < Math.min(link.size, at + chunk); k++) if (sibling(k) !== link.index && !found.has(sibling(k))) ids.push(sibling(k));
      // From the second chunk on, also whether a sibling (of any process) joined meanwhile: what it
      // enqueued or wrote exists.
      const [joined, ...read] = await Promise.all([at > 0 ? parts.storage.get(next) : undefined, ...ids.map((j) => parts.storage.get(memberId(link, j)))]);
      if (joined !== undefined) return undefined;
      for (let k = 0; k < ids.length; k++) {
        const r = read[k];
        if (r === undefined || !isFinal(r.status)) {
          remember(hints, link.id, ids[k]!);
          return undefined; // a sibling still runs: it will join
        }
        found.set(ids[k]!, r);
      }
    }
    all = true;
    hints.delete(link.id);
    return found;
  } finally {
    if (mine !== undefined) {
      scans.delete(link.id);
      mine(all);
    }
  }
}

/** Per app: the group member each group's last scan found still running (a hint only: any order is correct). */
const HINTS = new WeakMap<QueueTasks, Map<string, number>>();
/** Per app: the scan of a group in progress that found every member read so far final (resolves true if it found all). */
const SCANS = new WeakMap<QueueTasks, Map<string, Promise<boolean>>>();
const MAX_HINTS = 1_000;

function hintsOf<V>(app: QueueTasks, per: WeakMap<QueueTasks, Map<string, V>>): Map<string, V> {
  let map = per.get(app);
  if (map === undefined) per.set(app, (map = new Map()));
  return map;
}

function remember(hints: Map<string, number>, group: string, index: number): void {
  hints.delete(group); // re-inserted last: the oldest hints go first
  hints.set(group, index);
  if (hints.size > MAX_HINTS) hints.delete(hints.keys().next().value!);
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
async function flowParent(app: QueueTasks, parts: EnqueueParts, link: GroupLink, message: TaskMessage, members: readonly TaskRecord[], log: LoggerLike): Promise<void> {
  const cb = link.callback!;
  const children: ChildResult[] = [];
  for (const r of members) {
    if (r.status === TaskStatus.SUCCESS) {
      children.push({ id: r.id, name: r.name, status: r.status, returning: r.returning ?? null });
      continue;
    }
    const policy = groupLinkOf(r.meta)?.policy ?? 'failParent';
    if (policy === 'failParent') return fail(app, parts, link, message, r, log);
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
  if (parentLink !== undefined) await join(app, { ...parts, fused: false }, own, failed, log);
}
