/**
 * The app: owns its hooks, config, registrations and lifecycle, and is the API of all of it.
 * Everything that talks to the outside world comes from plugins through hooks; with none, the
 * in-memory plugin answers. The work behind the methods lives next door: app-registry.ts
 * (plugins, tasks), app-lifecycle.ts (start, stop), app-add.ts (addTask, addTasks), control/
 * (the control plane), schedule/ (schedules), app-loggers.ts (loggers), app-options.ts.
 */
import { submitFlow, type FlowNode } from './workflow/flow.js';
import { cancelWorkflow, type WorkflowCancel } from './workflow/cancel.js';
import { workflowView, type WorkflowView } from './workflow/view.js';
import { resolveConfig, type Config } from './config.js';
import type { Broker, CancelFound, GlobalConfig, QueueCounts, Storage, WorkerInfo } from './contracts.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { createHooks, type KernelHooks } from './hooks.js';
import { guardHooks } from './lifecycle.js';
import { addTask, addTasks } from './app-add.js';
import { getRecord, ping, waitFor, workers } from './app-reads.js';
import { AppLifecycle } from './app-lifecycle.js';
import { AppLoggers } from './app-loggers.js';
import { AppRegistry } from './app-registry.js';
import type { AppState, QueueTasksOptions, StartOptions } from './app-options.js';
import { Logger, type LogLevel, type LoggerLike } from './logger.js';
import type { Plugin } from './plugin.js';
import type { TaskRecord } from './record.js';
import type { Router } from './router.js';
import { loggerMain, setAppMain, setLoggerMain } from './state.js';
import {
  TaskHandle,
  checkTaskName,
  type AddTaskOptions,
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
  type TaskResult,
} from './task.js';
import { AppSchedules } from './schedule/app-schedules.js';
import type { ScheduleDefinition, ScheduleInfo, ScheduleOptions, ScheduleSpec } from './schedule/spec.js';
import type { ArgsSchema, ResultSchema, SchemaInput } from './schema.js';
import type { BulkItem } from './bulk.js';
import { Container, type Dependency, type DependencyOptions } from './di/container.js';
import type { CleanOptions, ListOptions, ListResult, RetryFilter } from './control/plane.js';
import { TaskEvents } from './control/events.js';
import { defineQueue, type QueueOptions } from './flow/queues.js';
import type { JsonChecked } from './json-types.js';
import type { SandboxContext, SandboxOptions } from './sandbox/index.js';

export type { AppState, QueueTasksOptions, StartOptions } from './app-options.js';

/** Options of a sandboxed task. */
export type SandboxTaskOptions = TaskOptions & SandboxOptions & { name: string };
type ArgsOf<H> = H extends (...args: infer A) => unknown ? A : never;
type RestOf<H> = H extends (ctx: never, ...args: infer A) => unknown ? A : never;

export class QueueTasks {
  readonly name: string;
  readonly hooks: KernelHooks;
  readonly config: Readonly<Config>;
  /** Its plugins and tasks (app-registry.ts). */
  readonly #registry: AppRegistry;
  readonly #dependencies = new Container();
  readonly #options: QueueTasksOptions;
  /** Start, stop and the state between (app-lifecycle.ts). */
  readonly #run: AppLifecycle;
  /** The loggers this app hands out (per app: never shared). */
  readonly #loggers: AppLoggers;
  readonly #schedules: AppSchedules;
  /**
   * Events of this app's tasks from every process (added, active, progress, completed, failed,
   * retrying, dead, cancelled, delayed). Listeners may be added before start.
   */
  readonly events = new TaskEvents();

  constructor(options: QueueTasksOptions = {}) {
    this.#options = options;
    this.name = options.name ?? 'QueueTasks';
    this.#schedules = new AppSchedules(this.name);
    checkTaskName(this.name);
    this.#registry = new AppRegistry(this, (what) => this.#run.assertCreated(what), options.sharedTasks !== false);
    this.#run = new AppLifecycle(this, { registry: this.#registry, dependencies: this.#dependencies, schedules: this.#schedules });
    this.config = Object.freeze(resolveConfig(options.config, options.env));
    this.hooks = createHooks();
    this.#loggers = new AppLoggers(this);
    guardHooks(this.hooks, () => this.#run.state !== 'created');
    if (options.globals !== false) {
      // appMain: last constructed wins (as in QTasks). loggerMain: only if nobody set one, so a
      // host's own logger, or the first app's, is not replaced by every app that follows.
      setAppMain(this);
      if (loggerMain() === undefined) {
        setLoggerMain(new Logger({ name: this.name, subname: 'QueueTasks', level: this.config.logLevel, format: this.config.logFormat }));
      }
    }
    for (const plugin of options.plugins ?? []) this.use(plugin);
    this.hooks.lifecycle.init.call(this);
  }

  get state(): AppState {
    return this.#run.state;
  }

  /** Whether this app adopts `sharedTask` declarations when it starts (its `sharedTasks` option). */
  get adoptsSharedTasks(): boolean {
    return this.#options.sharedTasks !== false;
  }

  /** Registered tasks by name. */
  get tasks(): ReadonlyMap<string, TaskDefinition> {
    return this.#registry.tasks;
  }

  get plugins(): readonly Plugin[] {
    return this.#registry.plugins;
  }

  /** Applies a plugin. Only before start; names are unique per app. */
  use(plugin: Plugin): this {
    this.#registry.use(plugin);
    return this;
  }

  /** Registers a task and returns its typed handle. */
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
  /**
   * Registers a sandboxed task: the processor module's default export is the handler, run in a
   * worker thread or child process. `H` (the processor's handler type, e.g.
   * `typeof import('./resize.js').default`) types the handle.
   */
  task<H extends (...args: never[]) => unknown = (...args: unknown[]) => unknown>(
    options: SandboxTaskOptions & { echo?: false } & JsonChecked<ArgsOf<H>, TaskResult<ReturnType<H>>>,
  ): TaskHandle<ArgsOf<H>, ReturnType<H>>;
  task<H extends (ctx: SandboxContext, ...args: never[]) => unknown>(
    options: SandboxTaskOptions & { echo: true } & JsonChecked<RestOf<H>, TaskResult<ReturnType<H>>>,
  ): TaskHandle<RestOf<H>, ReturnType<H>>;
  task(options: string | TaskOptions | SandboxTaskOptions, handler?: (...args: never[]) => unknown): TaskHandle<unknown[], unknown> {
    return this.#registry.task(options, handler);
  }

  /**
   * Declares a dependency tasks reach with `await ctx.use(dep)`: `scope` app (one per app,
   * created at start), worker (one per worker) or task (one per attempt, disposed after it);
   * `deps` are other dependencies the factory takes. Checked at start: a cycle fails start.
   */
  dependency<T, D extends Readonly<Record<string, Dependency<unknown>>> = Record<string, never>>(name: string, options: DependencyOptions<T, D>): Dependency<T> {
    this.#run.assertCreated(`declare dependency "${name}"`);
    return this.#dependencies.declare(name, options);
  }

  /** The dependencies declared on this app (what ctx.use resolves from). */
  get dependencies(): Container {
    return this.#dependencies;
  }

  /** Registers every task of a router on this app. */
  includeRouter(router: Router): this {
    for (const def of router.definitions()) this.#registry.register(def);
    router.bind(this);
    return this;
  }

  /**
   * A logger for `component` (plus `bindings`, e.g. a task's): from the logging plugin, else
   * derived from loggerMain, else a local Logger. Component loggers are made once per app.
   */
  logger(component: string, bindings?: Record<string, unknown>): LoggerLike {
    return this.#loggers.get(component, bindings);
  }

  /**
   * This app's log level. Setting it changes every logger this app has handed out (and will hand
   * out), and no other app's. It reads as a string: a logging plugin's logger may use levels of
   * its own; it is set only to one of qtasks' levels (a typo does not compile).
   */
  get logLevel(): string {
    return this.#loggers.level;
  }

  set logLevel(level: LogLevel) {
    this.#loggers.level = level;
  }

  /**
   * Defines (or, for an existing id, updates) a schedule that enqueues `handle` with `args` at each
   * fire time, as a task with id `sched:<id>:<fireTimeMs>` (docs/scheduling.md). Callable before
   * start (stored at start) or after (stored at once).
   */
  async schedule<A extends unknown[], R>(id: string, spec: ScheduleSpec, handle: TaskHandle<A, R> | string, args: NoInfer<A>, options: ScheduleOptions = {}): Promise<ScheduleDefinition> {
    const name = typeof handle === 'string' ? handle : handle instanceof TaskHandle ? handle.name : undefined;
    if (name === undefined || !this.#registry.knows(name)) {
      throw new QTasksError(ErrorCodes.UNKNOWN_TASK, `schedule "${String(id)}": task ${JSON.stringify(name ?? String(handle))} is not registered on app "${this.name}"`);
    }
    return this.#schedules.define(id, spec, name, args, options);
  }

  /** App-wide limits for every task run from queue `name` (docs/flow-control.md); before start, in every worker process. */
  queue(name: string, options: QueueOptions): this {
    return defineQueue(this, name, options);
  }

  /** Removes a schedule; resolves true when there was one. Fires already enqueued still run. */
  unschedule(id: string): Promise<boolean> {
    return this.#schedules.remove(id);
  }

  /** The app's schedules with their next fire time (before start: the ones defined in this process). */
  schedules(): Promise<ScheduleInfo[]> {
    return this.#schedules.list();
  }

  /** Enqueues task `name` with `args` (the name-based, untyped form of `handle.addTask`). */
  addTask(name: string, args: readonly unknown[] = [], options: AddTaskOptions = {}): Promise<TaskRecord> {
    // Not async itself (the helper is): no second promise per call on the hot path.
    return addTask(this, this.#run, name, args, options);
  }

  /**
   * Enqueues many calls, of any tasks, in one go; resolves with their records in input order.
   * Every item is checked before anything is sent (a bad item fails the call, naming its index);
   * see docs/tasks.md for what is atomic once sending starts. At most MAX_BULK_ITEMS per call.
   */
  addTasks(items: readonly BulkItem[]): Promise<TaskRecord[]> {
    return addTasks(this, this.#run, items);
  }

  // --- control plane (docs/operations.md) ---

  /** Per queue (or for `queue`): waiting, delayed, running, retrying, dead, and finished counts. */
  async counts(queue?: string): Promise<QueueCounts[]> {
    return (await this.#run.controlReady('counts')).counts(queue);
  }

  /** A page of records in `status`, newest first, with the cursor of the next page. */
  async list(options: ListOptions): Promise<ListResult> {
    return (await this.#run.controlReady('list')).list(options);
  }

  /**
   * Cancels task `id`: queued or delayed, it is removed and ends `cancel`; running, its
   * `ctx.signal` aborts wherever it runs and it ends `cancel` with `reason`, never retried.
   */
  async cancel(id: string, reason?: string): Promise<CancelFound> {
    return (await this.#run.controlReady('cancel')).cancel(id, reason);
  }

  /** Queues again a task in error or dead (or every one matching the filter) with a fresh attempt count; returns how many. */
  async retry(target: string | RetryFilter): Promise<number> {
    return (await this.#run.controlReady('retry')).retry(target);
  }

  /** Runs a delayed (or retry-waiting) task now. False if it was not waiting for its time. */
  async promote(id: string): Promise<boolean> {
    return (await this.#run.controlReady('promote')).promote(id);
  }

  /** Deletes a task that is not running: from its queue, its record and every index. */
  async remove(id: string): Promise<boolean> {
    return (await this.#run.controlReady('remove')).remove(id);
  }

  /** Deletes up to `limit` finished records of `status` older than `olderThanMs`; returns how many. */
  async clean(options: CleanOptions): Promise<number> {
    return (await this.#run.controlReady('clean')).clean(options);
  }

  /** Drops every task waiting or delayed in `queue`; returns how many. */
  async purge(queue: string): Promise<number> {
    return (await this.#run.controlReady('purge')).purge(queue);
  }

  /** Every worker of the app, in every process, stops taking tasks from `queue` (all queues without one). Kept by the broker. */
  async pause(queue?: string): Promise<void> {
    return (await this.#run.controlReady('pause')).setPaused(queue, true);
  }

  async resume(queue?: string): Promise<void> {
    return (await this.#run.controlReady('resume')).setPaused(queue, false);
  }

  /** Waits up to `timeoutMs` for task `id` to be final; rejects with WaitTimeoutError (carrying the id) otherwise. */
  wait(id: string, timeoutMs: number): Promise<TaskRecord> {
    return waitFor(this, this.#run, id, timeoutMs);
  }

  /**
   * Sends a flow: each node's task runs after all its children ended, with `ctx.childResults()`
   * (docs/workflows.md). Resolves with the root's record; its id is the workflow's.
   */
  async flow(root: FlowNode, options: { timeout?: number } = {}): Promise<TaskRecord> {
    return submitFlow(this, root, options);
  }

  /** Each step of workflow `id` (a chain, group, chord or flow), or undefined (unknown or expired). docs/workflows.md */
  workflow(id: string): Promise<WorkflowView | undefined> {
    return workflowView(this, id);
  }

  /** Cancels workflow `id`: its record becomes `cancel`, queued and running steps are cancelled, no later step is enqueued. */
  async cancelWorkflow(id: string, reason?: string): Promise<WorkflowCancel> {
    return cancelWorkflow(this, await this.#run.ready('cancelWorkflow'), id, reason);
  }

  /** The stored record of task `id`, or undefined (unknown or expired). */
  get(id: string): Promise<TaskRecord | undefined> {
    return getRecord(this, this.#run, id);
  }

  /** Whether a worker of this app (in any process) is alive: the shorthand for `workers()`. */
  ping(): Promise<boolean> {
    return ping(this.#run);
  }

  /** The live workers of this app, in any process, each as its last heartbeat described it. */
  workers(): Promise<WorkerInfo[]> {
    return workers(this.#run);
  }

  /** The app's shared key-value store and liveness (QTasks' GlobalConfig). */
  get globalConfig(): GlobalConfig {
    return this.#run.started('globalConfig').globalConfig;
  }

  /** The broker the app resolved at start (for dead letters and plugin-specific calls). */
  get broker(): Broker {
    return this.#run.started('broker').broker;
  }

  /** The storage the app resolved at start. */
  get storage(): Storage {
    return this.#run.started('storage').storage;
  }

  /** Connects broker and storage, runs `lifecycle.start`, then (by default) the worker. Idempotent. */
  start(options: StartOptions = {}): Promise<void> {
    return this.#run.start(options);
  }

  /** Drains the worker (up to config.stopTimeoutMs), runs every stop step, and disconnects. Idempotent. */
  stop(): Promise<void> {
    return this.#run.stop();
  }

  /** Starts the app with a worker and resolves after SIGINT or SIGTERM stopped it. */
  async runForever(options: { signals?: readonly NodeJS.Signals[] } = {}): Promise<void> {
    return this.#run.runForever(options.signals ?? ['SIGINT', 'SIGTERM']);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
