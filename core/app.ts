/**
 * The app: owns its hooks, config, task registry and lifecycle. Everything that talks to the
 * outside world comes from plugins through hooks; with none, the in-memory plugin answers.
 */
import { submitFlow, type FlowNode } from './workflow/flow.js';
import { resolveConfig, type Config } from './config.js';
import type { Broker, ComponentContext, GlobalConfig, Storage, WorkerInfo } from './contracts.js';
import { ErrorCodes, QTasksError, WaitTimeoutError, asQTasksError } from './errors.js';
import { createHooks, type KernelHooks, type LifecycleContext } from './hooks.js';
import { guardHooks, runStopTaps, withTimeout } from './lifecycle.js';
import { AppLoggers } from './app-loggers.js';
import { Logger, type LogLevel, type LoggerLike } from './logger.js';
import type { Plugin } from './plugin.js';
import type { TaskRecord } from './record.js';
import { RecordWrites } from './record-writes.js';
import type { Router } from './router.js';
import { appMain, loggerMain, setAppMain, setLoggerMain, sharedTaskDefinitions } from './state.js';
import {
  TaskHandle,
  checkTaskName,
  checkTaskOptions,
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
import { enqueue } from './enqueue.js';
import { AppSchedules } from './schedule/app-schedules.js';
import type { ScheduleDefinition, ScheduleInfo, ScheduleOptions, ScheduleSpec } from './schedule/spec.js';
import { SANDBOXED_TASK_OPTION_KEYS } from './options.js';
import { checkSchemaOptions, type ArgsSchema, type ResultSchema, type SchemaInput } from './schema.js';
import { enqueueMany, type BulkItem } from './bulk.js';
import { Container, type Dependency, type DependencyOptions } from './di/container.js';
import type { CancelFound, QueueCounts } from './contracts.js';
import { ControlPlane, type CleanOptions, type ListOptions, type ListResult, type RetryFilter } from './control/plane.js';
import { TaskEvents } from './control/events.js';
import type { JsonChecked } from './json-types.js';
import { sandboxDefinition, type SandboxContext, type SandboxOptions } from './sandbox/index.js';
import { Worker } from './worker.js';
import { createMemoryParts } from '../plugins/memory/index.js';

export type AppState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface QueueTasksOptions {
  /** The app's name: the namespace of its keys and queues. Producer and worker of one app use the same name. */
  name?: string;
  plugins?: readonly Plugin[];
  config?: Partial<Config>;
  /** Set appMain (and loggerMain, if none is set) on construction (default true). Off for hosts that want no globals. */
  globals?: boolean;
  /** Adopt tasks declared with sharedTask when starting (default true). */
  sharedTasks?: boolean;
  /** Environment to read QTASKS_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface StartOptions {
  /** Run a worker that consumes this app's queues (default true). Producers pass false. */
  worker?: boolean;
  /** The worker's concurrency for this run, over `config.concurrency` (a host's `--concurrency`). */
  concurrency?: number | undefined;
  /** The queues the worker consumes for this run, over `config.queues` (a host's `--queues`). */
  queues?: readonly string[] | undefined;
}

function checkStartOptions(app: string, options: StartOptions): void {
  const { concurrency, queues } = options;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `start of app "${app}": concurrency must be a whole number >= 1, got ${String(concurrency)}`);
  }
  if (queues !== undefined && (!Array.isArray(queues) || queues.length === 0)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `start of app "${app}": queues must be a non-empty array of queue names`);
  }
  for (const q of queues ?? []) checkTaskName(q);
}

interface Parts {
  broker: Broker;
  storage: Storage;
  globalConfig: GlobalConfig;
  /** True when no plugin provided a GlobalConfig and the in-process default stands in. */
  defaultGlobalConfig: boolean;
  fused: boolean;
  /** The kernel's writes to `storage` (unfused mode), grouped per turn where the storage can. */
  writes: RecordWrites;
}

/** Options of a sandboxed task. */
export type SandboxTaskOptions = TaskOptions & SandboxOptions & { name: string };
type ArgsOf<H> = H extends (...args: infer A) => unknown ? A : never;
type RestOf<H> = H extends (ctx: never, ...args: infer A) => unknown ? A : never;

export class QueueTasks {
  readonly name: string;
  readonly hooks: KernelHooks;
  readonly config: Readonly<Config>;
  readonly #tasks = new Map<string, TaskDefinition>();
  readonly #plugins: Plugin[] = [];
  readonly #dependencies = new Container();
  readonly #options: QueueTasksOptions;
  #state: AppState = 'created';
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #parts: Parts | undefined;
  #worker: Worker | undefined;
  #log: LoggerLike | undefined;
  /** The loggers this app hands out (per app: never shared). */
  readonly #loggers: AppLoggers;
  #plane: ControlPlane | undefined;
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
    this.config = Object.freeze(resolveConfig(options.config, options.env));
    this.hooks = createHooks();
    this.#loggers = new AppLoggers(this);
    guardHooks(this.hooks, () => this.#state !== 'created');
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
    return this.#state;
  }

  /** Whether this app adopts `sharedTask` declarations when it starts (its `sharedTasks` option). */
  get adoptsSharedTasks(): boolean {
    return this.#options.sharedTasks !== false;
  }

  /** Registered tasks by name. */
  get tasks(): ReadonlyMap<string, TaskDefinition> {
    return this.#tasks;
  }

  get plugins(): readonly Plugin[] {
    return this.#plugins;
  }

  /** Applies a plugin. Only before start; names are unique per app. */
  use(plugin: Plugin): this {
    this.#assertCreated('add plugin');
    if (typeof plugin?.apply !== 'function' || typeof plugin.name !== 'string' || plugin.name === '') {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, 'a plugin is an object { name, apply(app) }');
    }
    if (this.#plugins.some((p) => p.name === plugin.name)) {
      throw new QTasksError(ErrorCodes.DUPLICATE_PLUGIN, `plugin "${plugin.name}" is already registered on app "${this.name}"`);
    }
    for (const dep of plugin.dependencies ?? []) {
      if (!this.#plugins.some((p) => p.name === dep)) {
        throw new QTasksError(ErrorCodes.PLUGIN_DEPENDENCY, `plugin "${plugin.name}" needs plugin "${dep}" registered before it`);
      }
    }
    this.#plugins.push(plugin);
    plugin.apply(this);
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
    const opts: TaskOptions & Partial<SandboxOptions> = typeof options === 'string' ? { name: options } : { ...options };
    const name = checkTaskName(opts.name);
    const sandboxed = opts.processor !== undefined || opts.sandbox !== undefined;
    checkTaskOptions(name, opts, sandboxed ? SANDBOXED_TASK_OPTION_KEYS : undefined);
    checkSchemaOptions(name, opts);
    if (sandboxed) {
      if (handler !== undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": a sandboxed task takes no handler (the processor's default export is the handler)`);
      if (opts.processor === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": sandbox needs a processor module`);
      this.#assertCreated(`register task "${name}"`);
      this.#register(sandboxDefinition(this, name, opts as TaskOptions & SandboxOptions));
    } else {
      if (typeof handler !== 'function') throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": handler must be a function`);
      this.#register({ name, options: Object.freeze(opts), handler });
    }
    return new TaskHandle(name, this.#tasks.get(name)!.options, () => this);
  }

  /**
   * Declares a dependency tasks reach with `await ctx.use(dep)`: `scope` app (one per app,
   * created at start), worker (one per worker) or task (one per attempt, disposed after it);
   * `deps` are other dependencies the factory takes. Checked at start: a cycle fails start.
   */
  dependency<T, D extends Readonly<Record<string, Dependency<unknown>>> = Record<string, never>>(name: string, options: DependencyOptions<T, D>): Dependency<T> {
    this.#assertCreated(`declare dependency "${name}"`);
    return this.#dependencies.declare(name, options);
  }

  /** The dependencies declared on this app (what ctx.use resolves from). */
  get dependencies(): Container {
    return this.#dependencies;
  }

  /** Registers every task of a router on this app. */
  includeRouter(router: Router): this {
    for (const def of router.definitions()) this.#register(def);
    router.bind(this);
    return this;
  }

  #register(def: TaskDefinition): void {
    this.#assertCreated(`register task "${def.name}"`);
    if (this.#tasks.has(def.name)) {
      throw new QTasksError(ErrorCodes.DUPLICATE_TASK, `task "${def.name}" is already registered on app "${this.name}"`);
    }
    this.#tasks.set(def.name, def);
    this.hooks.task.registered.call(def);
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

  get #logger(): LoggerLike {
    this.#log ??= this.logger('QueueTasks');
    return this.#log;
  }

  /**
   * Defines (or, for an existing id, updates) a schedule that enqueues `handle` with `args` at each
   * fire time, as a task with id `sched:<id>:<fireTimeMs>` (docs/scheduling.md). Callable before
   * start (stored at start) or after (stored at once).
   */
  async schedule<A extends unknown[], R>(id: string, spec: ScheduleSpec, handle: TaskHandle<A, R> | string, args: NoInfer<A>, options: ScheduleOptions = {}): Promise<ScheduleDefinition> {
    const name = typeof handle === 'string' ? handle : handle instanceof TaskHandle ? handle.name : undefined;
    if (name === undefined || !(this.#tasks.has(name) || (this.#options.sharedTasks !== false && sharedTaskDefinitions.has(name)))) {
      throw new QTasksError(ErrorCodes.UNKNOWN_TASK, `schedule "${String(id)}": task ${JSON.stringify(name ?? String(handle))} is not registered on app "${this.name}"`);
    }
    return this.#schedules.define(id, spec, name, args, options);
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
  async addTask(name: string, args: readonly unknown[] = [], options: AddTaskOptions = {}): Promise<TaskRecord> {
    checkTaskName(name);
    let waiting: Promise<TaskRecord | undefined> | undefined;
    try {
      // Started is the usual case: no extra await per call on the hot path.
      const parts = this.#state === 'started' && this.#parts !== undefined ? this.#parts : await this.#ready('addTask');
      const timeout = options.timeout;
      if (options.onProgress !== undefined) return await this.#addWatched(parts, name, args, options);
      if (timeout === undefined) return await enqueue(this, parts, name, args, options);
      // The wait begins before the publish: a task that finishes, and whose record expires (a short
      // result TTL), before a later wait could look would otherwise be missed.
      if (parts.storage.prepareWait !== undefined) await parts.storage.prepareWait();
      const record = await enqueue(this, parts, name, args, options, (id) => (waiting = parts.storage.waitFinal(id, timeout)));
      return await this.#finalOf(record.id, timeout, waiting!);
    } catch (err) {
      waiting?.catch(() => undefined); // the publish failed: nobody reads this wait
      throw pluginError(err, `addTask of task "${name}"`);
    }
  }

  /**
   * Enqueues many calls, of any tasks, in one go; resolves with their records in input order.
   * Every item is checked before anything is sent (a bad item fails the call, naming its index);
   * see docs/tasks.md for what is atomic once sending starts. At most MAX_BULK_ITEMS per call.
   */
  async addTasks(items: readonly BulkItem[]): Promise<TaskRecord[]> {
    const parts = this.#state === 'started' && this.#parts !== undefined ? this.#parts : await this.#ready('addTasks');
    try {
      return await enqueueMany(this, parts, items);
    } catch (err) {
      throw pluginError(err, 'addTasks');
    }
  }

  /**
   * addTask with onProgress: listen to the task's events before it can run, call onProgress per
   * progress value, and resolve once the final record and the task's last event are both in (so
   * no value reported before the end arrives after the caller moved on).
   */
  async #addWatched(parts: Parts, name: string, args: readonly unknown[], options: AddTaskOptions): Promise<TaskRecord> {
    const { onProgress, timeout } = options;
    if (typeof onProgress !== 'function' || timeout === undefined) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": onProgress must be a function and needs timeout (the wait it reports during)`);
    }
    this.#controlPlane('addTask').require('progress');
    await this.events.ready();
    let off: (() => void) | undefined;
    let ended: (() => void) | undefined;
    const last = new Promise<void>((resolve) => (ended = resolve));
    const rest = { ...options, onProgress: undefined };
    let waiting: Promise<TaskRecord | undefined> | undefined;
    if (parts.storage.prepareWait !== undefined) await parts.storage.prepareWait();
    try {
      const record = await enqueue(this, parts, name, args, rest, (id) => {
        off = this.events.forTask(id, (event) => {
          if (event.type === 'progress') {
            try {
              onProgress(event.progress);
            } catch (err) {
              this.#logger.error({ err, taskId: id }, 'an onProgress callback threw');
            }
          } else if (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled' || event.type === 'dead') ended!();
        });
        waiting = parts.storage.waitFinal(id, timeout);
      });
      const final = await this.#finalOf(record.id, timeout, waiting!);
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([last, new Promise<void>((resolve) => (grace = setTimeout(resolve, 1_000)))]);
      clearTimeout(grace);
      return final;
    } catch (err) {
      waiting?.catch(() => undefined);
      throw err;
    } finally {
      off?.();
    }
  }

  // --- control plane (docs/operations.md) ---

  /** Per queue (or for `queue`): waiting, delayed, running, retrying, dead, and finished counts. */
  async counts(queue?: string): Promise<QueueCounts[]> {
    return (await this.#controlReady('counts')).counts(queue);
  }

  /** A page of records in `status`, newest first, with the cursor of the next page. */
  async list(options: ListOptions): Promise<ListResult> {
    return (await this.#controlReady('list')).list(options);
  }

  /**
   * Cancels task `id`: queued or delayed, it is removed and ends `cancel`; running, its
   * `ctx.signal` aborts wherever it runs and it ends `cancel` with `reason`, never retried.
   */
  async cancel(id: string, reason?: string): Promise<CancelFound> {
    return (await this.#controlReady('cancel')).cancel(id, reason);
  }

  /** Queues again a task in error or dead (or every one matching the filter) with a fresh attempt count; returns how many. */
  async retry(target: string | RetryFilter): Promise<number> {
    return (await this.#controlReady('retry')).retry(target);
  }

  /** Runs a delayed (or retry-waiting) task now. False if it was not waiting for its time. */
  async promote(id: string): Promise<boolean> {
    return (await this.#controlReady('promote')).promote(id);
  }

  /** Deletes a task that is not running: from its queue, its record and every index. */
  async remove(id: string): Promise<boolean> {
    return (await this.#controlReady('remove')).remove(id);
  }

  /** Deletes up to `limit` finished records of `status` older than `olderThanMs`; returns how many. */
  async clean(options: CleanOptions): Promise<number> {
    return (await this.#controlReady('clean')).clean(options);
  }

  /** Drops every task waiting or delayed in `queue`; returns how many. */
  async purge(queue: string): Promise<number> {
    return (await this.#controlReady('purge')).purge(queue);
  }

  /** Every worker of the app, in every process, stops taking tasks from `queue` (all queues without one). Kept by the broker. */
  async pause(queue?: string): Promise<void> {
    return (await this.#controlReady('pause')).setPaused(queue, true);
  }

  async resume(queue?: string): Promise<void> {
    return (await this.#controlReady('resume')).setPaused(queue, false);
  }

  async #controlReady(what: string): Promise<ControlPlane> {
    await this.#ready(what);
    return this.#controlPlane(what);
  }

  #controlPlane(what: string): ControlPlane {
    const parts = this.#started(what);
    this.#plane ??= new ControlPlane(this, parts);
    return this.#plane;
  }

  /** Waits up to `timeoutMs` for task `id` to be final; rejects with WaitTimeoutError (carrying the id) otherwise. */
  async wait(id: string, timeoutMs: number): Promise<TaskRecord> {
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `wait: timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`);
    }
    const parts = await this.#ready('wait');
    try {
      return await this.#finalOf(id, timeoutMs, parts.storage.waitFinal(id, timeoutMs));
    } catch (err) {
      throw pluginError(err, `wait for task ${id}`);
    }
  }

  async #finalOf(id: string, timeoutMs: number, waiting: Promise<TaskRecord | undefined>): Promise<TaskRecord> {
    const record = await waiting;
    if (record === undefined) throw new WaitTimeoutError(id, timeoutMs);
    return this.hooks.storage.afterGet.isUsed() ? this.hooks.storage.afterGet.call(record) : record;
  }

  /**
   * Sends a flow: each node's task runs after all its children ended, with `ctx.childResults()`
   * (docs/workflows.md). Resolves with the root's record; its id is the workflow's.
   */
  async flow(root: FlowNode, options: { timeout?: number } = {}): Promise<TaskRecord> {
    return submitFlow(this, root, options);
  }

  /** The stored record of task `id`, or undefined (unknown or expired). */
  async get(id: string): Promise<TaskRecord | undefined> {
    const parts = await this.#ready('get');
    const record = await parts.storage.get(id).catch((err: unknown) => {
      throw pluginError(err, `get of task ${id}`);
    });
    if (record === undefined) return undefined;
    return this.hooks.storage.afterGet.isUsed() ? this.hooks.storage.afterGet.call(record) : record;
  }

  /** Whether a worker of this app (in any process) is alive: the shorthand for `workers()`. */
  async ping(): Promise<boolean> {
    const parts = await this.#ready('ping');
    return parts.globalConfig.alive().catch((err: unknown) => {
      throw pluginError(err, 'ping');
    });
  }

  /** The live workers of this app, in any process, each as its last heartbeat described it. */
  async workers(): Promise<WorkerInfo[]> {
    const parts = await this.#ready('workers');
    return parts.globalConfig.workers().catch((err: unknown) => {
      throw pluginError(err, 'workers');
    });
  }

  /** The app's shared key-value store and liveness (QTasks' GlobalConfig). */
  get globalConfig(): GlobalConfig {
    return this.#started('globalConfig').globalConfig;
  }

  /** The broker the app resolved at start (for dead letters and plugin-specific calls). */
  get broker(): Broker {
    return this.#started('broker').broker;
  }

  /** The storage the app resolved at start. */
  get storage(): Storage {
    return this.#started('storage').storage;
  }

  #started(what: string): Parts {
    if (this.#parts === undefined) throw new QTasksError(ErrorCodes.NOT_STARTED, `${what}: app "${this.name}" is not started`);
    return this.#parts;
  }

  /** Connects broker and storage, runs `lifecycle.start`, then (by default) the worker. Idempotent. */
  start(options: StartOptions = {}): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      return Promise.reject(new QTasksError(ErrorCodes.STOPPED, `app "${this.name}" was stopped; create a new app to start again`));
    }
    try {
      checkStartOptions(this.name, options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#starting ??= this.#start(options.worker ?? true, options);
    return this.#starting;
  }

  async #start(runWorker: boolean, options: StartOptions): Promise<void> {
    this.#state = 'starting';
    const log = this.#logger;
    try {
      if (this.#options.sharedTasks !== false) {
        for (const def of sharedTaskDefinitions.values()) {
          if (this.#tasks.has(def.name)) continue;
          this.#tasks.set(def.name, def);
          this.hooks.task.registered.call(def);
        }
      }
      this.#parts = this.#resolveParts();
      const ctx: ComponentContext = { appName: this.name, config: this.config, logger: this.logger('Broker') };
      const limit = this.config.startTimeoutMs;
      const { broker, storage, globalConfig } = this.#parts;
      await withTimeout(storage.start({ ...ctx, logger: this.logger('Storage') }), limit, `storage ${storage.name} start`);
      await withTimeout(globalConfig.start({ ...ctx, logger: this.logger('GlobalConfig') }), limit, `global config ${globalConfig.name} start`);
      await withTimeout(broker.start({ ...ctx, fused: this.#parts.fused }), limit, `broker ${broker.name} start`);
      await withTimeout(this.hooks.lifecycle.start.promise(this.#lifecycleContext(runWorker)), limit, 'lifecycle.start taps');
      if (this.#dependencies.size > 0) {
        this.#dependencies.check();
        await withTimeout(this.#dependencies.open('app'), limit, 'app-scoped dependencies');
        if (runWorker) await withTimeout(this.#dependencies.open('worker'), limit, 'worker-scoped dependencies');
      }
      const plane = this.#controlPlane('start');
      const control = broker.control;
      this.events.attach(control !== undefined && control.capabilities.has('events') ? control : plane.unsupported('events'), this.logger('Events'));
      await withTimeout(this.#schedules.start(this.#parts), limit, 'schedules start');
      this.#state = 'started';
      const queues = runWorker ? (options.queues ?? this.#queues()) : [];
      const concurrency = options.concurrency ?? this.config.concurrency;
      if (runWorker) {
        this.#worker = new Worker(this, this.#parts);
        await this.#worker.start(queues, concurrency);
        await this.#schedules.run(this.logger('Scheduler'), (task, args, id) => this.addTask(task, args, { id }));
      }
      this.hooks.lifecycle.started.call(this);
      // The one routine line at info: what runs where. The details are debug lines.
      log.info({ broker: broker.name, storage: storage.name, worker: runWorker, tasks: this.#tasks.size, ...(runWorker ? { queues, concurrency } : {}) }, 'app started');
    } catch (err) {
      this.#state = 'stopping';
      // Release what did start; its own failures are secondary to the one that stopped start.
      await this.#shutdown().catch((stopErr: unknown) => this.#logger.warn({ err: stopErr }, 'cleanup after a failed start had errors'));
      this.#finish();
      throw pluginError(err, `start of app "${this.name}"`);
    }
  }

  #resolveParts(): Parts {
    const broker = this.hooks.broker.provide.call(this);
    const storage = this.hooks.storage.provide.call(this);
    const globalConfig = this.hooks.storage.provideGlobalConfig.call(this);
    const memory = broker === undefined || (storage === undefined && broker.records === undefined) || globalConfig === undefined ? createMemoryParts() : undefined;
    const b = broker ?? memory!.broker;
    const s = storage ?? b.records ?? memory!.storage;
    return { broker: b, storage: s, globalConfig: globalConfig ?? memory!.globalConfig, defaultGlobalConfig: globalConfig === undefined, fused: b.records !== undefined && b.records === s, writes: new RecordWrites(s) };
  }

  #queues(): string[] {
    if (this.config.queues.length > 0) return [...this.config.queues];
    const queues = new Set<string>([this.config.defaultQueue]);
    for (const def of this.#tasks.values()) if (def.options.queue !== undefined) queues.add(def.options.queue);
    return [...queues];
  }

  #lifecycleContext(worker: boolean): LifecycleContext {
    return { app: this, worker };
  }

  /** Drains the worker (up to config.stopTimeoutMs), runs every stop step, and disconnects. Idempotent. */
  stop(): Promise<void> {
    if (this.#state === 'created') {
      // A stopped app must not stay the fallback of sharedTask, started or not.
      this.#finish();
      return Promise.resolve();
    }
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => undefined);
      if (this.#state === 'stopped') return;
      this.#state = 'stopping';
      try {
        await this.#shutdown();
        this.#logger.info({}, 'app stopped');
      } finally {
        this.#finish();
      }
    })();
    return this.#stopping;
  }

  /** Every way to `stopped` ends here: state, appMain, and the `lifecycle.stopped` notification. */
  #finish(): void {
    this.#state = 'stopped';
    if (appMain() === this) setAppMain(undefined);
    try {
      this.hooks.lifecycle.stopped.call(this);
    } catch (err) {
      this.#logger.error({ err }, 'a lifecycle.stopped tap failed');
    }
  }

  async #shutdown(): Promise<void> {
    const errors: unknown[] = [];
    const limit = this.config.stepTimeoutMs;
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await withTimeout(fn(), limit, what);
      } catch (err) {
        errors.push(err instanceof Error ? err : new QTasksError(ErrorCodes.STOP_FAILED, `${what}: ${String(err)}`));
      }
    };
    await step('schedules stop', () => this.#schedules.stop());
    const worker = this.#worker;
    // The worker's own drain is bounded by stopTimeoutMs; the step limit comes on top of it.
    if (worker !== undefined) {
      try {
        await worker.stop(this.config.stopTimeoutMs);
      } catch (err) {
        errors.push(err);
      }
    }
    // After the worker: no task uses them any more. Worker scope first, then app scope.
    const deps = this.#dependencies;
    if (deps.worker !== undefined) await step('worker-scoped dependencies', () => deps.worker!.dispose(this.#logger));
    if (deps.app !== undefined) await step('app-scoped dependencies', () => deps.app!.dispose(this.#logger));
    errors.push(...(await runStopTaps(this.hooks.lifecycle.stop, this.#lifecycleContext(worker !== undefined), limit)));
    await step('events stop', () => this.events.close());
    const parts = this.#parts;
    if (parts !== undefined) {
      await step('broker stop', () => parts.broker.stop());
      await step('global config stop', () => parts.globalConfig.stop());
      await step('storage stop', () => parts.storage.stop());
    }
    if (errors.length > 0) {
      this.#logger.error({ errors: errors.length }, 'stop finished with errors');
      throw Object.assign(new QTasksError(ErrorCodes.STOP_FAILED, `${errors.length} stop step(s) failed in app "${this.name}"`, { cause: errors[0] }), { errors });
    }
  }

  /** Starts the app with a worker and resolves after SIGINT or SIGTERM stopped it. */
  async runForever(options: { signals?: readonly NodeJS.Signals[] } = {}): Promise<void> {
    const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
    let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
    const received = new Promise<NodeJS.Signals>((resolve) => {
      onSignal = resolve;
      for (const s of signals) process.once(s, resolve);
    });
    // A worker on the memory broker holds no socket; this keeps the process up until a signal.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      await this.start({ worker: true });
      const signal = await received;
      this.#logger.info({ signal }, 'signal received: stopping');
    } finally {
      clearInterval(keepAlive);
      for (const s of signals) process.removeListener(s, onSignal!);
      await this.stop();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #ready(what: string): Promise<Parts> {
    if (this.#state === 'starting') await this.#starting;
    if (this.#state !== 'started' || this.#parts === undefined) {
      throw new QTasksError(ErrorCodes.NOT_STARTED, `${what}: app "${this.name}" is ${this.#state}; call start() first`);
    }
    return this.#parts;
  }

  #assertCreated(what: string): void {
    if (this.#state !== 'created') {
      throw new QTasksError(ErrorCodes.ALREADY_STARTED, `cannot ${what}: app "${this.name}" is ${this.#state}`);
    }
  }
}

/**
 * Every error a caller gets from the app is a QTasksError: a plugin's own error (a driver's, a
 * bug's) is wrapped with PLUGIN_FAILED, the original as `cause`. Plugins wrap what they know better.
 */
function pluginError(err: unknown, what: string): QTasksError {
  return asQTasksError(err, ErrorCodes.PLUGIN_FAILED, `${what} failed`);
}
