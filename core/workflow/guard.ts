/**
 * Cancelling a workflow against the workers that advance it. `cancelWorkflow` first takes the
 * workflow's id (its record: the id every broker then refuses to enqueue), then reads the steps and
 * cancels those queued or running. A worker that moves the workflow on checks that record before
 * it enqueues (to skip the work) and after (store, then read): of the two, at least one sees the
 * other, so a step enqueued during the cancel is cancelled by one side or the other. A step
 * enqueued in that instant may be taken by a worker before the cancel reaches it: so a step a
 * worker enqueued also checks the record before its handler runs (guardStep).
 */
import type { QueueTasks } from '../app.js';
import type { EnqueueParts } from '../enqueue.js';
import type { LoggerLike } from '../logger.js';
import type { TaskContext } from '../task.js';
import { TaskStatus, type TaskMessage, type TaskRecord } from '../record.js';
import { carried, expand } from './launch.js';
import { WORKFLOW_META, rootOf } from './link.js';

/** The meta of the record cancelWorkflow writes under the workflow's id. */
export const CANCEL_MARK = { [WORKFLOW_META]: { cancelled: true } } as const;

function cancelledByWorkflow(record: TaskRecord | undefined): record is TaskRecord {
  const mark = record?.meta?.[WORKFLOW_META];
  return record?.status === TaskStatus.CANCEL && typeof mark === 'object' && mark !== null && (mark as { cancelled?: unknown }).cancelled === true;
}

// A chain step after the first (`<wf>.<i>`) or a member of a group inside a chain (`<wf>.<i>.m<j>`).
const CHAIN_STEP = /^[^.]+\.[1-9]\d*(?:\.|$)/;

/**
 * Before the handler of a step that a worker enqueued (a chain's later step, a group member inside
 * a chain, a flow parent): if its workflow was cancelled, it ends \`cancel\` without running. The
 * first member of a group sent by a producer carries the others: they are sent here, unless the
 * workflow was cancelled (launch.ts). The executor calls it only for ids with a '.' (every step id
 * has one), so other tasks pay one \`includes\`; the storage read only for those steps.
 */
export function guardStep(app: QueueTasks, ctx: TaskContext, message?: TaskMessage): Promise<void> | undefined {
  const members = carried(message?.meta);
  if (!(members !== undefined || CHAIN_STEP.test(ctx.id) || ctx.childResults().length > 0)) return undefined;
  return (async () => {
    const record = await app.get(rootOf(ctx.id));
    if (cancelledByWorkflow(record)) ctx.cancel(record.reason ?? 'workflow cancelled');
    if (members === undefined || record !== undefined) return;
    await expand(app, ctx.id, members, ctx.logger);
    // Cancelled while they were sent: cancel them too (the cancel takes the id, then reads the steps).
    await recheck(app, { storage: app.storage }, rootOf(ctx.id), members.map((m) => m.options.id), ctx.logger);
  })();
}

/** The workflow's record exists: it ended, or a cancel took its id. Nothing more may be enqueued. */
export async function ended(parts: Pick<EnqueueParts, 'storage'>, workflowId: string): Promise<boolean> {
  return (await parts.storage.get(workflowId)) !== undefined;
}

/** After enqueueing `ids`: if the workflow was cancelled meanwhile, cancel them too. */
export async function recheck(app: QueueTasks, parts: Pick<EnqueueParts, 'storage'>, workflowId: string, ids: readonly string[], log: LoggerLike): Promise<void> {
  const record = await parts.storage.get(workflowId);
  if (record === undefined) return;
  const reason = record.reason ?? 'workflow cancelled';
  for (const id of ids) await app.cancel(id, reason);
  log.debug({ workflow: workflowId, count: ids.length }, 'workflow: cancelled while a step was enqueued; the step is cancelled too');
}
