/**
 * `chain(a.with(x), b, c)`: a workflow run by the workers, not the caller. Each step's message
 * carries the chain (its continuation); the worker that finishes a step enqueues the next one
 * (advance.ts) before it settles the step, under an id derived from the workflow's, so a step
 * redelivered after a crash enqueues the same next step again, never a second one.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, QTasksError } from '../errors.js';
import { messageToRecord, type TaskRecord } from '../record.js';
import type { TaskHandle, TaskOptions, TaskResult } from '../task.js';
import { TaskCall } from './call.js';
import { Group, groupMembers } from './group.js';
import { launch } from './launch.js';
import { GROUP_NAME, WORKFLOW_META, firstStepId, stepId, trimmed, type ChainLink, type StepSpec } from './link.js';

/** A step after the first: a task handle (ChainSteps checks that it takes the previous result). */
export interface StepHandle {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
}
/** A step after the first: a task handle, or a group (its members keep their own args; the next step gets their results). */
type AnyHandle = StepHandle | Group<unknown[]>;
type ResultOfHandle<H> = H extends Group<infer Rs> ? Rs : H extends TaskHandle<infer _A, infer R> ? TaskResult<R> : never;

/**
 * Checks each step against the previous result: a step that cannot take it becomes the handle
 * type it would have to be, so the compiler names the mismatch at that step.
 */
export type ChainSteps<Prev, Steps extends readonly unknown[]> = Steps extends readonly [infer H, ...infer Rest]
  ? H extends Group<infer Rs>
    ? [H, ...ChainSteps<Rs, Rest>]
    : H extends TaskHandle<infer A, infer R>
    ? [Prev] extends A
      ? [H, ...ChainSteps<TaskResult<R>, Rest>]
      : [TaskHandle<[previous: Prev], R>, ...ChainSteps<TaskResult<R>, Rest>]
    : [TaskHandle<[previous: Prev], unknown>]
  : [];

/** The result of a chain: its last step's. */
export type ChainResult<First, Steps extends readonly unknown[]> = Steps extends readonly [...unknown[], infer L] ? ResultOfHandle<L> : First;

/** What `addTask` of a workflow takes. */
export interface WorkflowAddOptions {
  /** Wait up to this many ms for the workflow's final record. */
  timeout?: number;
}

/** A chain built and not yet sent. */
export class Chain<T> {
  readonly #first: TaskCall<unknown[], unknown> | Group<unknown[]>;
  readonly #rest: readonly AnyHandle[];

  constructor(first: TaskCall<unknown[], unknown> | Group<unknown[]>, rest: readonly AnyHandle[]) {
    this.#first = first;
    this.#rest = rest;
  }

  /**
   * Sends the chain. Resolves with the workflow's record: its id is the workflow's, which is the
   * last step's task id (`app.get(id)` shows the chain's outcome). Without `timeout` the record
   * is in status `new` (nothing of it may be stored yet); with it, the final record.
   */
  async addTask(options: WorkflowAddOptions = {}): Promise<TaskRecord<readonly unknown[], T>> {
    const first = this.#first;
    if (first instanceof Group) return this.#fromGroup(first, options);
    const app = first.handle.app;
    if (this.#rest.length === 0) return (await first.handle.addTask(first.args, { ...first.options, ...options })) as TaskRecord<readonly unknown[], T>;
    checkTimeout(options);
    const id = randomUUID();
    const steps: StepSpec[] = [first.handle, ...this.#rest].map((h) => specOf(h));
    const link: ChainLink = { id, index: 0, steps };
    const meta = { ...first.options.meta, [WORKFLOW_META]: link };
    // Every step's id derives from the workflow's: app.workflow(id) finds them without an index.
    await first.handle.addTask(first.args, { ...first.options, id: firstStepId(id), meta, timeout: undefined, onProgress: undefined });
    const last = steps[steps.length - 1]!;
    if (options.timeout !== undefined) return (await app.wait(id, options.timeout)) as TaskRecord<readonly unknown[], T>;
    const now = Date.now();
    const record = messageToRecord(
      { id, name: last.name, queue: last.queue ?? app.config.defaultQueue, args: [], priority: last.priority ?? app.config.defaultPriority, createdAt: now, maxDeliveries: 1 },
      now,
    );
    return record as TaskRecord<readonly unknown[], T>;
  }

  /**
   * A chain whose first step is a group: its members are sent as a group's are (one message,
   * launch.ts), each carrying the step after the group as its callback (ids `<wf>.0.m<j>`).
   */
  async #fromGroup(first: Group<unknown[]>, options: WorkflowAddOptions): Promise<TaskRecord<readonly unknown[], T>> {
    if (this.#rest.length === 0) return (await first.addTask(options)) as TaskRecord<readonly unknown[], T>;
    checkTimeout(options);
    const app = first.calls[0]!.handle.app;
    const id = randomUUID();
    const steps: StepSpec[] = [first, ...this.#rest].map((h) => specOf(h));
    const link: ChainLink = { id, index: 0, steps };
    const callback = { name: steps[1]!.name, chain: { ...trimmed(link, 0), index: 1 } };
    await launch(app, groupMembers(first.calls, stepId(link, 0), callback));
    if (options.timeout !== undefined) return (await app.wait(id, options.timeout)) as TaskRecord<readonly unknown[], T>;
    const last = steps[steps.length - 1]!;
    const now = Date.now();
    return messageToRecord(
      { id, name: last.name, queue: last.queue ?? app.config.defaultQueue, args: [], priority: last.priority ?? app.config.defaultPriority, createdAt: now, maxDeliveries: 1 },
      now,
    ) as TaskRecord<readonly unknown[], T>;
  }
}

function checkTimeout(options: WorkflowAddOptions): void {
  if (options.timeout !== undefined && (typeof options.timeout !== 'number' || !Number.isFinite(options.timeout) || options.timeout < 0)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `chain: timeout must be a finite number >= 0, got ${String(options.timeout)}`);
  }
}

function specOf(handle: AnyHandle): StepSpec {
  if (handle instanceof Group) {
    const group = handle.calls.map((c) => {
      const o = { ...c.handle.options, ...c.options };
      return { ...specOf(c.handle), args: c.args, ...(o.queue !== undefined ? { queue: o.queue } : {}), ...(o.priority !== undefined ? { priority: o.priority } : {}), ...(o.delay !== undefined ? { delay: o.delay } : {}) };
    });
    return { name: GROUP_NAME, group };
  }
  const o = handle.options;
  return {
    name: handle.name,
    ...(o.queue !== undefined ? { queue: o.queue } : {}),
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.delay !== undefined ? { delay: o.delay } : {}),
  };
}

/**
 * A chain: `first` runs with its arguments, then each later step with the previous step's result
 * as its only argument. The compiler rejects a step that cannot take the previous result. A step
 * may be a `group([...])` (the first one too): its members run in parallel with their own args
 * once the previous step succeeded, and the step after it gets the list of their results.
 */
export function chain<A extends unknown[], T, const Steps extends readonly AnyHandle[]>(first: TaskCall<A, T>, ...steps: Steps & ChainSteps<T, Steps>): Chain<ChainResult<T, Steps>>;
export function chain<Rs extends unknown[], const Steps extends readonly AnyHandle[]>(first: Group<Rs>, ...steps: Steps & ChainSteps<Rs, Steps>): Chain<ChainResult<Rs, Steps>>;
export function chain(first: TaskCall<unknown[], unknown> | Group<unknown[]>, ...steps: readonly AnyHandle[]): Chain<unknown> {
  if (!(first instanceof TaskCall) && !(first instanceof Group)) {
    throw new QTasksError(ErrorCodes.INVALID_ARGS, 'chain: the first step must be a call built with handle.with(args) or a group([...]), e.g. chain(resize.with([url]), zip)');
  }
  if (first instanceof TaskCall && steps.length > 0 && (first.options.id !== undefined || first.options.dedup !== undefined)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'chain: the first call sets id or dedup; a workflow names its steps itself');
  }
  steps.forEach((s: unknown, i) => {
    if (s instanceof Group) return;
    if (s instanceof TaskCall) throw new QTasksError(ErrorCodes.INVALID_ARGS, `chain: step ${i + 2} is a call; later steps are task handles (they take the previous step's result)`);
    if (typeof s !== 'object' || s === null || typeof (s as { name?: unknown }).name !== 'string') {
      throw new QTasksError(ErrorCodes.INVALID_ARGS, `chain: step ${i + 2} is not a task handle`);
    }
  });
  return new Chain(first, steps);
}
