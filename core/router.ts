/**
 * A Router collects task definitions in a module that does not import the app; the app takes
 * them with `app.includeRouter(router)`. Handles returned by a router enqueue through the app
 * that included it (or appMain, if none has yet).
 */
import type { QueueTasks } from './app.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { requireAppMain } from './state.js';
import {
  TaskHandle,
  checkTaskName,
  checkTaskOptions,
  type EchoTaskHandler,
  type EchoTaskOptions,
  type PlainTaskOptions,
  type TaskDefinition,
  type TaskHandler,
  type TaskOptions,
} from './task.js';

export interface RouterOptions {
  /** Defaults merged under each task's own options (for example a queue or priority for the group). */
  defaults?: TaskOptions;
}

export class Router {
  readonly #defs = new Map<string, TaskDefinition>();
  readonly #defaults: TaskOptions;
  #app: QueueTasks | undefined;

  constructor(options: RouterOptions = {}) {
    this.#defaults = { ...options.defaults };
  }

  task<A extends unknown[], R>(options: EchoTaskOptions, handler: EchoTaskHandler<A, R>): TaskHandle<A, R>;
  task<A extends unknown[], R>(options: string | PlainTaskOptions, handler: TaskHandler<A, R>): TaskHandle<A, R>;
  task(options: string | TaskOptions, handler: (...args: never[]) => unknown): TaskHandle<unknown[], unknown> {
    const opts: TaskOptions = { ...this.#defaults, ...(typeof options === 'string' ? { name: options } : options) };
    const name = checkTaskName(opts.name);
    checkTaskOptions(name, opts);
    if (this.#defs.has(name)) throw new QTasksError(ErrorCodes.DUPLICATE_TASK, `task "${name}" is already in this router`);
    const def: TaskDefinition = { name, options: Object.freeze(opts), handler };
    this.#defs.set(name, def);
    return new TaskHandle(name, def.options, () => this.#resolveApp(name));
  }

  /** The definitions, in registration order. */
  definitions(): TaskDefinition[] {
    return [...this.#defs.values()];
  }

  /** Called by `app.includeRouter`. */
  bind(app: QueueTasks): void {
    this.#app ??= app;
  }

  #resolveApp(name: string): QueueTasks {
    return this.#app ?? requireAppMain(`task "${name}" (in a router no app has included yet)`);
  }
}
