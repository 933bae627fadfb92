/**
 * An app's registrations: its plugins and its tasks (its own, a router's, sandboxed ones, and at
 * start the `sharedTask` declarations it adopts). Only before start; names are unique per app.
 */
import type { QueueTasks, SandboxTaskOptions } from './app.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { SANDBOXED_TASK_OPTION_KEYS } from './options.js';
import type { Plugin } from './plugin.js';
import { sandboxDefinition, type SandboxOptions } from './sandbox/index.js';
import { checkSchemaOptions } from './schema.js';
import { sharedTaskDefinitions } from './state.js';
import { TaskHandle, checkTaskName, checkTaskOptions, type TaskDefinition, type TaskOptions } from './task.js';

export class AppRegistry {
  readonly tasks = new Map<string, TaskDefinition>();
  readonly plugins: Plugin[] = [];
  readonly #app: QueueTasks;
  readonly #assertCreated: (what: string) => void;
  readonly #adoptsShared: boolean;

  constructor(app: QueueTasks, assertCreated: (what: string) => void, adoptsShared: boolean) {
    this.#app = app;
    this.#assertCreated = assertCreated;
    this.#adoptsShared = adoptsShared;
  }

  use(plugin: Plugin): void {
    this.#assertCreated('add plugin');
    if (typeof plugin?.apply !== 'function' || typeof plugin.name !== 'string' || plugin.name === '') {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, 'a plugin is an object { name, apply(app) }');
    }
    if (this.plugins.some((p) => p.name === plugin.name)) {
      throw new QTasksError(ErrorCodes.DUPLICATE_PLUGIN, `plugin "${plugin.name}" is already registered on app "${this.#app.name}"`);
    }
    for (const dep of plugin.dependencies ?? []) {
      if (!this.plugins.some((p) => p.name === dep)) {
        throw new QTasksError(ErrorCodes.PLUGIN_DEPENDENCY, `plugin "${plugin.name}" needs plugin "${dep}" registered before it`);
      }
    }
    this.plugins.push(plugin);
    plugin.apply(this.#app);
  }

  /** `app.task(...)`: checks the options, registers a plain or sandboxed task, returns its handle. */
  task(options: string | TaskOptions | SandboxTaskOptions, handler?: (...args: never[]) => unknown): TaskHandle<unknown[], unknown> {
    const opts: TaskOptions & Partial<SandboxOptions> = typeof options === 'string' ? { name: options } : { ...options };
    const name = checkTaskName(opts.name);
    const sandboxed = opts.processor !== undefined || opts.sandbox !== undefined;
    checkTaskOptions(name, opts, sandboxed ? SANDBOXED_TASK_OPTION_KEYS : undefined);
    checkSchemaOptions(name, opts);
    if (sandboxed) {
      if (handler !== undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": a sandboxed task takes no handler (the processor's default export is the handler)`);
      if (opts.processor === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": sandbox needs a processor module`);
      this.#assertCreated(`register task "${name}"`);
      this.register(sandboxDefinition(this.#app, name, opts as TaskOptions & SandboxOptions));
    } else {
      if (typeof handler !== 'function') throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": handler must be a function`);
      this.register({ name, options: Object.freeze(opts), handler });
    }
    const app = this.#app;
    return new TaskHandle(name, this.tasks.get(name)!.options, () => app);
  }

  register(def: TaskDefinition): void {
    this.#assertCreated(`register task "${def.name}"`);
    if (this.tasks.has(def.name)) {
      throw new QTasksError(ErrorCodes.DUPLICATE_TASK, `task "${def.name}" is already registered on app "${this.#app.name}"`);
    }
    this.tasks.set(def.name, def);
    this.#app.hooks.task.registered.call(def);
  }

  /** Whether task `name` is this app's, counting the `sharedTask` declarations it adopts at start. */
  knows(name: string): boolean {
    return this.tasks.has(name) || (this.#adoptsShared && sharedTaskDefinitions.has(name));
  }

  /** At start: takes in every `sharedTask` declaration whose name no task of the app has. */
  adoptShared(): void {
    if (!this.#adoptsShared) return;
    for (const def of sharedTaskDefinitions.values()) {
      if (this.tasks.has(def.name)) continue;
      this.tasks.set(def.name, def);
      this.#app.hooks.task.registered.call(def);
    }
  }
}
