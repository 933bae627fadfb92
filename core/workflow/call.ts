/**
 * Deferred task calls: `handle.with(args, options)` builds a call without sending it; `addTask()`
 * sends it. Workflows (chain.ts) are built from them.
 */
import type { TaskRecord } from '../record.js';
import type { AddTaskOptions, TaskHandle, TaskResult } from '../task.js';

/** A task call built now and sent later (or used as a workflow step). `T` is its result type. */
export class TaskCall<A extends unknown[], T> {
  readonly handle: TaskHandle<A, unknown>;
  readonly args: A;
  readonly options: Readonly<AddTaskOptions>;

  constructor(handle: TaskHandle<A, unknown>, args: A, options: AddTaskOptions = {}) {
    this.handle = handle;
    this.args = args;
    this.options = Object.freeze({ ...options });
  }

  get name(): string {
    return this.handle.name;
  }

  /** Sends the call, exactly as `handle.addTask(args, options)` would. */
  async addTask(): Promise<TaskRecord<A, T>> {
    return this.handle.addTask(this.args, this.options) as Promise<TaskRecord<A, T>>;
  }
}

/** The call type `handle.with` returns. */
export type CallOf<A extends unknown[], R> = TaskCall<A, TaskResult<R>>;
