/**
 * Sending a group's members all or nothing. The producer publishes ONE message, the first member,
 * carrying the others (their calls resolved: name, args, queue, priority, delay, id, meta) in its
 * meta under LAUNCH_META. The worker that takes it sends the others before its handler runs
 * (guard.ts), under their derived ids, which every broker takes once: a worker killed while sending
 * leaves the first member unsettled, its redelivery sends them again and only the missing ones
 * are added. A producer killed before its one publish leaves nothing; after it, a whole group.
 * The group cannot end before its first member ran, so tying the others to it costs one hop, never
 * a group that could otherwise have completed.
 */
import type { QueueTasks } from '../app.js';
import type { BulkItem } from '../bulk.js';
import { checkCall } from '../enqueue.js';
import { ErrorCodes, QTasksError, messageOf } from '../errors.js';
import type { LoggerLike } from '../logger.js';
import { TaskStatus, recordOf } from '../record.js';
import { validate } from '../schema.js';
import type { TaskOptions } from '../task.js';
import type { TaskCall } from './call.js';
import { rootOf } from './link.js';

/** The meta key under which a workflow's first member carries the members still to send; reserved. */
export const LAUNCH_META = 'qtasks.launch';

/** Waits before sending the members again, ms. */
const RETRIES = [200, 1_000];

/** One member to send, resolved by the producer (a worker may not know the task). */
export interface MemberSend {
  readonly name: string;
  readonly args: readonly unknown[];
  readonly options: { readonly id: string; readonly meta: Record<string, unknown>; readonly queue?: string; readonly priority?: number; readonly delay?: number };
}

/** A member from a call: the call's options over its task's (queue, priority, delay), with its id and meta. */
export function memberOf(call: TaskCall<unknown[], unknown>, id: string, meta: Record<string, unknown>): MemberSend {
  return { name: call.handle.name, args: call.args, options: { id, meta: { ...call.options.meta, ...meta }, ...placed(call.handle.options, call.options) } };
}

/** queue, priority and delay: the call's, else its task's defaults (absent ones left out). */
export function placed(task: Readonly<TaskOptions>, call: { readonly queue?: string | undefined; readonly priority?: number | undefined; readonly delay?: number | undefined } = {}): { queue?: string; priority?: number; delay?: number } {
  const queue = call.queue ?? task.queue;
  const priority = call.priority ?? task.priority;
  const delay = call.delay ?? task.delay;
  return { ...(queue !== undefined ? { queue } : {}), ...(priority !== undefined ? { priority } : {}), ...(delay !== undefined ? { delay } : {}) };
}

/**
 * Producer side: one publish, the first member carrying the others. Every member is checked first
 * (options, JSON, its task's args schema where this process knows the task), as its own addTask
 * would: bad input fails here, at submit, naming the member, and nothing is sent.
 */
export async function launch(app: QueueTasks, members: readonly MemberSend[]): Promise<void> {
  const [first, ...rest] = members;
  if (first === undefined) return;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    try {
      checkCall(m.name, m.args, m.options);
      const schema = app.tasks.get(m.name)?.options.args;
      if (schema !== undefined) await validate(schema, m.args, m.name, 'args', ErrorCodes.INVALID_ARGS);
    } catch (err) {
      const code = err instanceof QTasksError ? err.code : ErrorCodes.INVALID_ARGS;
      throw new QTasksError(code, `workflow member ${i + 1} (task "${m.name}"): ${messageOf(err)}; nothing was sent`, { cause: err });
    }
  }
  const meta = rest.length === 0 ? first.options.meta : { ...first.options.meta, [LAUNCH_META]: rest };
  await app.addTask(first.name, first.args, { ...first.options, meta });
}

/** The members a message carries, if any (checked: meta is anyone's JSON). */
export function carried(meta: Readonly<Record<string, unknown>> | undefined): readonly MemberSend[] | undefined {
  const list = meta?.[LAUNCH_META];
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const ok = list.every((m: unknown) => {
    const s = m as Partial<MemberSend> | null;
    return typeof s === 'object' && s !== null && typeof s.name === 'string' && Array.isArray(s.args) && typeof s.options?.id === 'string';
  });
  return ok ? (list as MemberSend[]) : undefined;
}

/**
 * Worker side, before the carrier's handler: sends the members it carries (a bulk add: the broker
 * sends them together), ids already taken are no-ops. If they cannot be sent (after two more
 * tries), the workflow fails
 * with that error (a clear state, not a group waiting forever) and the carrier's attempt fails.
 */
export async function expand(app: QueueTasks, carrierId: string, members: readonly MemberSend[], log: LoggerLike): Promise<void> {
  const items: BulkItem[] = members.map((m) => ({ name: m.name, args: m.args, options: m.options }));
  try {
    // A broker briefly away: try again (ids already sent are no-ops) before failing the workflow.
    for (let tried = 0; ; tried++) {
      try {
        await app.addTasks(items);
        break;
      } catch (err) {
        if (tried >= RETRIES.length) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRIES[tried]));
      }
    }
  } catch (err) {
    const wf = rootOf(carrierId);
    const now = Date.now();
    const message = `workflow ${wf}: its members could not all be sent: ${messageOf(err)}`;
    log.error({ workflow: wf, err }, 'workflow: sending its members failed; the workflow fails');
    const msg = { id: wf, name: 'workflow', queue: app.config.defaultQueue, args: [], priority: app.config.defaultPriority, createdAt: now, maxDeliveries: 1 };
    await app.storage.save(recordOf(msg, TaskStatus.ERROR, 0, now, { finishedAt: now, error: { name: 'QTasksError', code: ErrorCodes.PLUGIN_FAILED, message } }), { ttlMs: app.config.resultTtlMs }).catch(() => undefined);
    throw new QTasksError(ErrorCodes.PLUGIN_FAILED, message, { cause: err });
  }
  log.debug({ workflow: rootOf(carrierId), count: items.length }, 'workflow: members sent by the worker that took the first');
}
