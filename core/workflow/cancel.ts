/**
 * `app.cancelWorkflow(id, reason)`: takes the workflow's id first (its record becomes `cancel`, so
 * no broker enqueues the last step, callback or root under it and every worker that would move the
 * workflow on sees it ended: guard.ts), then reads the steps and cancels each one queued or
 * running through the control plane (`app.cancel`). Steps not enqueued yet never will be.
 */
import type { QueueTasks } from '../app.js';
import type { CancelFound } from '../contracts.js';
import { canReservePublish, reservePublishing, type EnqueueParts } from '../enqueue.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import { TaskStatus, isFinal, messageToRecord } from '../record.js';
import { CANCEL_MARK } from './guard.js';
import { workflowView, type WorkflowStep } from './view.js';

/** What `app.cancelWorkflow` did. */
export interface WorkflowCancel {
  readonly id: string;
  /** cancelled: the workflow's record is now `cancel`; final: it had ended (nothing done); unknown: no such workflow (or expired). */
  readonly outcome: 'cancelled' | 'final' | 'unknown';
  /** The steps it asked to cancel (queued or running then), with what `app.cancel` found. */
  readonly steps: ReadonlyArray<{ readonly id: string; readonly found: CancelFound }>;
}

export async function cancelWorkflow(app: QueueTasks, parts: Pick<EnqueueParts, 'storage'>, id: string, reason = 'workflow cancelled'): Promise<WorkflowCancel> {
  if (typeof id !== 'string' || id === '') throw new QTasksError(ErrorCodes.INVALID_ARGS, `cancelWorkflow: id must be a workflow id (a non-empty string), got ${JSON.stringify(id)}`);
  if (typeof reason !== 'string') throw new QTasksError(ErrorCodes.INVALID_ARGS, `cancelWorkflow: reason must be a string, got ${typeof reason}`);
  const before = await workflowView(app, id);
  if (before === undefined) return { id, outcome: 'unknown', steps: [] };
  const storage = parts.storage;
  const own = await storage.get(id);
  if (own !== undefined && isFinal(own.status)) return { id, outcome: 'final', steps: [] };
  const steps: Array<{ id: string; found: CancelFound }> = [];
  if (own === undefined && (await take(app, parts, id, reason, before.steps.at(-1)?.name ?? 'workflow'))) {
    // taken: its record is `cancel`
  } else {
    // Enqueued already (a chain's last step, a chord's callback, a flow's root): cancel it as a task.
    steps.push({ id, found: await app.cancel(id, reason) });
  }
  // Read after taking the id: a step a worker enqueued before it is seen here; one enqueued after
  // it is cancelled by that worker (guard.ts).
  const after = (await workflowView(app, id)) ?? before;
  for (const step of flatten(after.steps)) {
    if (step.id === id || step.status === 'pending' || step.status === 'skipped' || isFinal(step.status)) continue;
    const found = await app.cancel(step.id, reason);
    // A group step inside a chain has no task of its own (unknown): its members are listed.
    if (found !== 'unknown') steps.push({ id: step.id, found });
  }
  return { id, outcome: 'cancelled', steps };
}

/** Takes the workflow's id with a `cancel` record unless a step holds it; true if taken. */
async function take(app: QueueTasks, parts: Pick<EnqueueParts, 'storage'>, id: string, reason: string, name: string): Promise<boolean> {
  const now = Date.now();
  const record = messageToRecord({ id, name, queue: app.config.defaultQueue, args: [], priority: app.config.defaultPriority, createdAt: now, maxDeliveries: 1 }, now);
  const ttlMs = app.config.resultTtlMs;
  const storage = parts.storage;
  // Atomic where the storage can (every bundled one): a worker enqueueing the id at the same moment gets it or loses it.
  if (canReservePublish(storage)) {
    // A worker's reservation of the id whose publish is unconfirmed is waited for: published, the
    // id is its task's; its publisher dead past the deadline, the cancel takes the id over.
    if ((await reservePublishing(storage, record, { ttlMs, publishMs: app.config.leaseMs })) !== undefined) return false;
  } else if (storage.reserve !== undefined && (await storage.reserve(record, { ttlMs })) !== undefined) return false;
  await storage.save({ ...record, status: TaskStatus.CANCEL, updatedAt: now, finishedAt: now, reason, meta: CANCEL_MARK }, { ttlMs });
  // Nothing is published under the id: the cancel record holds it (a crash before this leaves a record saved over the mark, which holds it too).
  if (canReservePublish(storage)) await storage.confirmPublish(id, true);
  return true;
}

function flatten(steps: readonly WorkflowStep[]): WorkflowStep[] {
  return steps.flatMap((s) => [...(s.children !== undefined ? flatten(s.children) : []), s]);
}
