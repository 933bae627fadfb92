/**
 * `group([calls])` runs calls in parallel, its result the list of their results in order;
 * `chord(group, callback)` runs `callback` once with that list, after every member ended. Both
 * are run by the workers (join.ts): the submitting process may exit once `addTask` resolved. The
 * members are sent as one message (launch.ts): a producer that dies while submitting sends all or none.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, QTasksError } from '../errors.js';
import { messageToRecord, type TaskRecord } from '../record.js';
import type { AddTaskOptions, TaskHandle, TaskOptions, TaskResult } from '../task.js';
import { TaskCall } from './call.js';
import type { WorkflowAddOptions } from './chain.js';
import { launch, memberOf, type MemberSend } from './launch.js';
import { WORKFLOW_META, memberId, type FlowParent, type GroupLink, type StepSpec } from './link.js';

/** What a group member is: a call built with `handle.with`. */
export interface MemberCall {
  readonly name: string;
  readonly args: readonly unknown[];
  readonly options: Readonly<AddTaskOptions>;
}

/** The results of a group's calls, in order. */
export type GroupResults<Calls extends readonly unknown[]> = { -readonly [K in keyof Calls]: Calls[K] extends TaskCall<infer _A, infer T> ? T : never };

/** The callback type a chord of results `Rs` needs (ChordCallback names a mismatch at the callback). */
export type ChordCallback<Rs, H> = H extends TaskHandle<infer A, infer _R> ? ([Rs] extends A ? H : TaskHandle<[results: Rs], unknown>) : TaskHandle<[results: Rs], unknown>;

export class Group<Rs extends unknown[]> {
  readonly calls: readonly TaskCall<unknown[], unknown>[];

  constructor(calls: readonly TaskCall<unknown[], unknown>[]) {
    this.calls = calls;
  }

  /** Sends every member. The record's id is the workflow's; with `timeout`, the final record (results in order). */
  async addTask(options: WorkflowAddOptions = {}): Promise<TaskRecord<readonly unknown[], Rs>> {
    return submit(this.calls, undefined, options) as Promise<TaskRecord<readonly unknown[], Rs>>;
  }
}

export class Chord<T> {
  readonly #group: Group<unknown[]>;
  readonly #callback: StepSpec;

  constructor(group: Group<unknown[]>, callback: StepSpec) {
    this.#group = group;
    this.#callback = callback;
  }

  /** Sends the members; the callback's task id is the workflow's id. */
  async addTask(options: WorkflowAddOptions = {}): Promise<TaskRecord<readonly unknown[], T>> {
    return submit(this.#group.calls, this.#callback, options) as Promise<TaskRecord<readonly unknown[], T>>;
  }
}

async function submit(calls: readonly TaskCall<unknown[], unknown>[], callback: StepSpec | undefined, options: WorkflowAddOptions): Promise<TaskRecord> {
  const app = calls[0]!.handle.app;
  const id = randomUUID();
  await launch(app, groupMembers(calls, id, callback));
  if (options.timeout !== undefined) return app.wait(id, options.timeout);
  const now = Date.now();
  const name = callback?.name ?? 'group';
  return messageToRecord(
    { id, name, queue: callback?.queue ?? app.config.defaultQueue, args: [], priority: callback?.priority ?? app.config.defaultPriority, createdAt: now, maxDeliveries: 1 },
    now,
  );
}

/** The members of group `id` (ids `<id>.m<j>`), each carrying its place and the group's callback. */
export function groupMembers(calls: readonly TaskCall<unknown[], unknown>[], id: string, callback: (StepSpec & Pick<FlowParent, 'chain'>) | undefined): MemberSend[] {
  const size = calls.length;
  return calls.map((call, index) => {
    const link: GroupLink = { kind: 'group', id, index, size, ...(callback !== undefined ? { callback } : {}) };
    return memberOf(call, memberId(link, index), { [WORKFLOW_META]: link });
  });
}

/** Runs `calls` in parallel; the workflow's result is the list of their results, in order. */
export function group<const Calls extends readonly MemberCall[]>(calls: Calls): Group<GroupResults<Calls>> {
  if (!Array.isArray(calls) || calls.length === 0) throw new QTasksError(ErrorCodes.INVALID_ARGS, 'group: takes a non-empty array of calls built with handle.with(args)');
  calls.forEach((c: unknown, i) => {
    if (!(c instanceof TaskCall)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `group: member ${i + 1} is not a call built with handle.with(args)`);
    if (c.options.id !== undefined || c.options.dedup !== undefined) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `group: member ${i + 1} sets id or dedup; a workflow names its steps itself`);
    }
  });
  return new Group(calls as unknown as TaskCall<unknown[], unknown>[]);
}

/** Runs the group, then `callback` once with the list of its results (after every member ended). */
export function chord<Rs extends unknown[], H extends { readonly name: string; readonly options: Readonly<TaskOptions> }>(
  members: Group<Rs>,
  callback: H & ChordCallback<Rs, H>,
): Chord<H extends TaskHandle<infer _A, infer R> ? TaskResult<R> : unknown> {
  if (!(members instanceof Group)) throw new QTasksError(ErrorCodes.INVALID_ARGS, 'chord: the first argument must be a group([...])');
  if (callback instanceof TaskCall || typeof callback?.name !== 'string') throw new QTasksError(ErrorCodes.INVALID_ARGS, 'chord: the callback must be a task handle (it takes the list of results)');
  const o = callback.options;
  const spec: StepSpec = { name: callback.name, ...(o.queue !== undefined ? { queue: o.queue } : {}), ...(o.priority !== undefined ? { priority: o.priority } : {}), ...(o.delay !== undefined ? { delay: o.delay } : {}) };
  return new Chord(members as unknown as Group<unknown[]>, spec);
}
