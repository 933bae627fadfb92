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
  type EchoSchemaTaskHandler,
  type EchoSchemaTaskOptions,
  type HandleResult,
  type SchemaTaskHandler,
  type SchemaTaskOptions,
  type EchoTaskHandler,
  type EchoTaskOptions,
  type PlainTaskOptions,
  type TaskDefinition,
  type TaskHandler,
  type TaskOptions,
} from './task.js';
import { checkSchemaOptions, type ArgsSchema, type ResultSchema, type SchemaInput } from './schema.js';

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

  task<S extends ArgsSchema, R, RS extends ResultSchema | undefined = undefined>(
    options: EchoSchemaTaskOptions<S, RS>,
    handler: EchoSchemaTaskHandler<S, R, RS>,
  ): TaskHandle<SchemaInput<S>, HandleResult<RS, R>>;
  task<S extends ArgsSchema, R, RS extends ResultSchema | undefined = undefined>(
    options: SchemaTaskOptions<S, RS>,
    handler: SchemaTaskHandler<S, R, RS>,
  ): TaskHandle<SchemaInput<S>, HandleResult<RS, R>>;
  task<A extends unknown[], R, RS extends ResultSchema | undefined = undefined>(
    options: EchoTaskOptions<RS>,
    handler: EchoTaskHandler<A, R, RS>,
  ): TaskHandle<A, HandleResult<RS, R>>;
  task<A extends unknown[], R, RS extends ResultSchema | undefined = undefined>(
    options: string | PlainTaskOptions<RS>,
    handler: TaskHandler<A, R, RS>,
  ): TaskHandle<A, HandleResult<RS, R>>;
  task(options: string | TaskOptions, handler: (...args: never[]) => unknown): TaskHandle<unknown[], unknown> {
    const opts: TaskOptions = { ...this.#defaults, ...(typeof options === 'string' ? { name: options } : options) };
    const name = checkTaskName(opts.name);
    checkTaskOptions(name, opts);
    checkSchemaOptions(name, opts);
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
