/**
 * An app's run from `created` to `stopped`: start (resolve and connect broker, storage and global
 * config, open dependencies, run the worker and the scheduler), stop (every step, each bounded,
 * failures collected) and the checks the app's calls make on the way (`ready`, `started`).
 * QueueTasks holds one per app and delegates to it.
 */
import type { QueueTasks } from './app.js';
import { checkStartOptions, type AppState, type StartOptions } from './app-options.js';
import type { AppRegistry } from './app-registry.js';
import type { Broker, ComponentContext, GlobalConfig, Storage } from './contracts.js';
import { ControlPlane } from './control/plane.js';
import type { Container } from './di/container.js';
import { ErrorCodes, QTasksError, asQTasksError } from './errors.js';
import type { LifecycleContext } from './hooks.js';
import { runStopTaps, withTimeout } from './lifecycle.js';
import type { LoggerLike } from './logger.js';
import { RecordWrites } from './record-writes.js';
import type { AppSchedules } from './schedule/app-schedules.js';
import { appMain, setAppMain } from './state.js';
import { Worker } from './worker.js';
import { createMemoryParts } from '../plugins/memory/index.js';

export interface Parts {
  broker: Broker;
  storage: Storage;
  globalConfig: GlobalConfig;
  /** True when no plugin provided a GlobalConfig and the in-process default stands in. */
  defaultGlobalConfig: boolean;
  fused: boolean;
  /** The kernel's writes to `storage` (unfused mode), grouped per turn where the storage can. */
  writes: RecordWrites;
}

/** What the app owns that its start and stop work on. */
export interface AppOwned {
  /** Its tasks; start adds the adopted sharedTask declarations to them. */
  readonly registry: AppRegistry;
  readonly dependencies: Container;
  readonly schedules: AppSchedules;
}

/**
 * Every error a caller gets from the app is a QTasksError: a plugin's own error (a driver's, a
 * bug's) is wrapped with PLUGIN_FAILED, the original as `cause`. Plugins wrap what they know better.
 */
export function pluginError(err: unknown, what: string): QTasksError {
  return asQTasksError(err, ErrorCodes.PLUGIN_FAILED, `${what} failed`);
}

export class AppLifecycle {
  readonly #app: QueueTasks;
  readonly #own: AppOwned;
  #state: AppState = 'created';
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #parts: Parts | undefined;
  #worker: Worker | undefined;
  #plane: ControlPlane | undefined;
  #log: LoggerLike | undefined;

  constructor(app: QueueTasks, own: AppOwned) {
    this.#app = app;
    this.#own = own;
  }

  get state(): AppState {
    return this.#state;
  }

  /** The parts when started, else undefined: the hot path's check, with no await. */
  get live(): Parts | undefined {
    return this.#state === 'started' ? this.#parts : undefined;
  }

  get #logger(): LoggerLike {
    this.#log ??= this.#app.logger('QueueTasks');
    return this.#log;
  }

  /** The parts once start has finished; waits for a start under way; NOT_STARTED otherwise. */
  async ready(what: string): Promise<Parts> {
    if (this.#state === 'starting') await this.#starting;
    if (this.#state !== 'started' || this.#parts === undefined) {
      throw new QTasksError(ErrorCodes.NOT_STARTED, `${what}: app "${this.#app.name}" is ${this.#state}; call start() first`);
    }
    return this.#parts;
  }

  /** The parts once resolved (from the middle of start on); NOT_STARTED before. */
  started(what: string): Parts {
    if (this.#parts === undefined) throw new QTasksError(ErrorCodes.NOT_STARTED, `${what}: app "${this.#app.name}" is not started`);
    return this.#parts;
  }

  async controlReady(what: string): Promise<ControlPlane> {
    await this.ready(what);
    return this.controlPlane(what);
  }

  controlPlane(what: string): ControlPlane {
    const parts = this.started(what);
    this.#plane ??= new ControlPlane(this.#app, parts);
    return this.#plane;
  }

  assertCreated(what: string): void {
    if (this.#state !== 'created') {
      throw new QTasksError(ErrorCodes.ALREADY_STARTED, `cannot ${what}: app "${this.#app.name}" is ${this.#state}`);
    }
  }

  start(options: StartOptions): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      return Promise.reject(new QTasksError(ErrorCodes.STOPPED, `app "${this.#app.name}" was stopped; create a new app to start again`));
    }
    try {
      checkStartOptions(this.#app.name, options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#starting ??= this.#start(options.worker ?? true, options);
    return this.#starting;
  }

  async #start(runWorker: boolean, options: StartOptions): Promise<void> {
    const app = this.#app;
    const { registry, dependencies, schedules } = this.#own;
    this.#state = 'starting';
    const log = this.#logger;
    try {
      registry.adoptShared();
      this.#parts = this.#resolveParts();
      const ctx: ComponentContext = { appName: app.name, config: app.config, logger: app.logger('Broker') };
      const limit = app.config.startTimeoutMs;
      const { broker, storage, globalConfig } = this.#parts;
      await withTimeout(storage.start({ ...ctx, logger: app.logger('Storage') }), limit, `storage ${storage.name} start`);
      await withTimeout(globalConfig.start({ ...ctx, logger: app.logger('GlobalConfig') }), limit, `global config ${globalConfig.name} start`);
      await withTimeout(broker.start({ ...ctx, fused: this.#parts.fused }), limit, `broker ${broker.name} start`);
      await withTimeout(app.hooks.lifecycle.start.promise(this.#lifecycleContext(runWorker)), limit, 'lifecycle.start taps');
      if (dependencies.size > 0) {
        dependencies.check();
        await withTimeout(dependencies.open('app'), limit, 'app-scoped dependencies');
        if (runWorker) await withTimeout(dependencies.open('worker'), limit, 'worker-scoped dependencies');
      }
      const plane = this.controlPlane('start');
      const control = broker.control;
      app.events.attach(control !== undefined && control.capabilities.has('events') ? control : plane.unsupported('events'), app.logger('Events'));
      await withTimeout(schedules.start(this.#parts), limit, 'schedules start');
      this.#state = 'started';
      const queues = runWorker ? (options.queues ?? this.#queues()) : [];
      const concurrency = options.concurrency ?? app.config.concurrency;
      if (runWorker) {
        this.#worker = new Worker(app, this.#parts);
        await this.#worker.start(queues, concurrency);
        await schedules.run(app.logger('Scheduler'), (task, args, id) => app.addTask(task, args, { id }));
      }
      app.hooks.lifecycle.started.call(app);
      // The one routine line at info: what runs where. The details are debug lines.
      log.info({ broker: broker.name, storage: storage.name, worker: runWorker, tasks: registry.tasks.size, ...(runWorker ? { queues, concurrency } : {}) }, 'app started');
    } catch (err) {
      this.#state = 'stopping';
      // Release what did start; its own failures are secondary to the one that stopped start.
      await this.#shutdown().catch((stopErr: unknown) => this.#logger.warn({ err: stopErr }, 'cleanup after a failed start had errors'));
      this.#finish();
      throw pluginError(err, `start of app "${app.name}"`);
    }
  }

  #resolveParts(): Parts {
    const hooks = this.#app.hooks;
    const broker = hooks.broker.provide.call(this.#app);
    const storage = hooks.storage.provide.call(this.#app);
    const globalConfig = hooks.storage.provideGlobalConfig.call(this.#app);
    const memory = broker === undefined || (storage === undefined && broker.records === undefined) || globalConfig === undefined ? createMemoryParts() : undefined;
    const b = broker ?? memory!.broker;
    const s = storage ?? b.records ?? memory!.storage;
    return { broker: b, storage: s, globalConfig: globalConfig ?? memory!.globalConfig, defaultGlobalConfig: globalConfig === undefined, fused: b.records !== undefined && b.records === s, writes: new RecordWrites(s) };
  }

  #queues(): string[] {
    const config = this.#app.config;
    if (config.queues.length > 0) return [...config.queues];
    const queues = new Set<string>([config.defaultQueue]);
    for (const def of this.#own.registry.tasks.values()) if (def.options.queue !== undefined) queues.add(def.options.queue);
    return [...queues];
  }

  #lifecycleContext(worker: boolean): LifecycleContext {
    return { app: this.#app, worker };
  }

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
    if (appMain() === this.#app) setAppMain(undefined);
    try {
      this.#app.hooks.lifecycle.stopped.call(this.#app);
    } catch (err) {
      this.#logger.error({ err }, 'a lifecycle.stopped tap failed');
    }
  }

  async #shutdown(): Promise<void> {
    const app = this.#app;
    const errors: unknown[] = [];
    const limit = app.config.stepTimeoutMs;
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await withTimeout(fn(), limit, what);
      } catch (err) {
        errors.push(err instanceof Error ? err : new QTasksError(ErrorCodes.STOP_FAILED, `${what}: ${String(err)}`));
      }
    };
    await step('schedules stop', () => this.#own.schedules.stop());
    const worker = this.#worker;
    // The worker's own drain is bounded by stopTimeoutMs; the step limit comes on top of it.
    if (worker !== undefined) {
      try {
        await worker.stop(app.config.stopTimeoutMs);
      } catch (err) {
        errors.push(err);
      }
    }
    // After the worker: no task uses them any more. Worker scope first, then app scope.
    const deps = this.#own.dependencies;
    if (deps.worker !== undefined) await step('worker-scoped dependencies', () => deps.worker!.dispose(this.#logger));
    if (deps.app !== undefined) await step('app-scoped dependencies', () => deps.app!.dispose(this.#logger));
    errors.push(...(await runStopTaps(app.hooks.lifecycle.stop, this.#lifecycleContext(worker !== undefined), limit)));
    await step('events stop', () => app.events.close());
    const parts = this.#parts;
    if (parts !== undefined) {
      await step('broker stop', () => parts.broker.stop());
      await step('global config stop', () => parts.globalConfig.stop());
      await step('storage stop', () => parts.storage.stop());
    }
    if (errors.length > 0) {
      this.#logger.error({ errors: errors.length }, 'stop finished with errors');
      throw Object.assign(new QTasksError(ErrorCodes.STOP_FAILED, `${errors.length} stop step(s) failed in app "${app.name}"`, { cause: errors[0] }), { errors });
    }
  }

  /** Starts the app with a worker and resolves after one of `signals` stopped it. */
  async runForever(signals: readonly NodeJS.Signals[]): Promise<void> {
    let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
    const received = new Promise<NodeJS.Signals>((resolve) => {
      onSignal = resolve;
      for (const s of signals) process.once(s, resolve);
    });
    // A worker on the memory broker holds no socket; this keeps the process up until a signal.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      await this.#app.start({ worker: true });
      const signal = await received;
      this.#logger.info({ signal }, 'signal received: stopping');
    } finally {
      clearInterval(keepAlive);
      for (const s of signals) process.removeListener(s, onSignal!);
      await this.#app.stop();
    }
  }
}
