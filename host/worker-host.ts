/**
 * The worker host: one process runs the workers of several apps, each with its own plugins,
 * config and logger. All start or none stays started; a signal drains all of them. The CLI's
 * `qtasks run -A a.ts:app -A b.ts:app` is this class with the apps loaded from files.
 */
import type { QueueTasks, StartOptions } from '../core/app.js';
import type { LogLevel } from '../core/logger.js';
import { ErrorCodes, QTasksError, messageOf } from '../core/errors.js';

/** An app to host, with the label the host reports it by (default: the app's name). */
export interface HostedApp {
  app: QueueTasks;
  label?: string;
}

export interface WorkerHostOptions {
  /** Worker concurrency for every app, over each app's `config.concurrency`. */
  concurrency?: number | undefined;
  /** Queues every app's worker consumes, over each app's own. */
  queues?: readonly string[] | undefined;
  /** Log level for every app (`app.logLevel`), over each app's `config.logLevel`. */
  logLevel?: LogLevel | undefined;
}

/** Where signals come from: `process` by default, an EventEmitter in tests. */
export interface SignalSource {
  once(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  removeListener(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface RunWorkersOptions extends WorkerHostOptions {
  /** Signals that drain and stop every app (default SIGINT and SIGTERM). */
  signals?: readonly NodeJS.Signals[];
  signalSource?: SignalSource;
  /** Called once every app is started (the CLI prints its line here). */
  onStarted?: (host: WorkerHost) => void;
  /** Called when a signal arrives, before the drain. */
  onSignal?: (signal: NodeJS.Signals) => void;
}

/** One failure per app: `label` and the error it gave. */
export interface HostFailure {
  label: string;
  error: unknown;
}

/** Thrown by `start()` (QTASKS_ERR_START_FAILED) or `stop()` (QTASKS_ERR_STOP_FAILED); `failures` names each app. */
export class WorkerHostError extends QTasksError {
  readonly failures: readonly HostFailure[];

  constructor(code: typeof ErrorCodes.START_FAILED | typeof ErrorCodes.STOP_FAILED, verb: string, failures: HostFailure[]) {
    const list = failures.map((f) => `${f.label}: ${messageOf(f.error)}`).join('; ');
    super(code, `${failures.length === 1 ? 'app' : 'apps'} failed to ${verb}: ${list}`, { cause: failures[0]?.error });
    this.name = 'WorkerHostError';
    this.failures = failures;
  }
}

export class WorkerHost {
  readonly apps: readonly Required<HostedApp>[];
  readonly #options: WorkerHostOptions;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(apps: readonly (QueueTasks | HostedApp)[], options: WorkerHostOptions = {}) {
    if (apps.length === 0) throw new QTasksError(ErrorCodes.INVALID_OPTION, 'worker host: give at least one app');
    this.apps = apps.map((a) => ('app' in a ? { app: a.app, label: a.label ?? a.app.name } : { app: a, label: a.name }));
    const seen = new Set<QueueTasks>();
    for (const { app, label } of this.apps) {
      if (seen.has(app)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `worker host: app ${label} is given twice`);
      seen.add(app);
    }
    this.#options = options;
  }

  /**
   * Starts every app's worker, side by side. If any fails, every other app is stopped (those
   * still starting included) before this rejects with a WorkerHostError naming the failed ones.
   */
  start(): Promise<void> {
    if (this.#stopping !== undefined) return Promise.reject(new QTasksError(ErrorCodes.STOPPED, 'worker host: already stopped'));
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const { concurrency, queues, logLevel } = this.#options;
    const startOptions: StartOptions = { worker: true, concurrency, queues };
    const failures: HostFailure[] = [];
    // Levels first: a bad level fails before any app connects.
    for (const { app, label } of this.apps) {
      try {
        if (logLevel !== undefined) app.logLevel = logLevel;
      } catch (error) {
        failures.push({ label, error });
      }
    }
    if (failures.length === 0) {
      const results = await Promise.allSettled(this.apps.map(({ app }) => app.start(startOptions)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') failures.push({ label: this.apps[i]!.label, error: r.reason });
      });
    }
    if (failures.length === 0) return;
    // No half-started host: the apps that did start stop again (an app that failed already released its parts).
    await Promise.allSettled(this.apps.map(({ app }) => app.stop()));
    throw new WorkerHostError(ErrorCodes.START_FAILED, 'start', failures);
  }

  /** Drains and stops every app side by side, each within its own `config.stopTimeoutMs`. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => undefined);
      const results = await Promise.allSettled(this.apps.map(({ app }) => app.stop()));
      const failures: HostFailure[] = [];
      results.forEach((r, i) => {
        if (r.status === 'rejected') failures.push({ label: this.apps[i]!.label, error: r.reason });
      });
      if (failures.length > 0) throw new WorkerHostError(ErrorCodes.STOP_FAILED, 'stop', failures);
    })();
    return this.#stopping;
  }
}

/**
 * Runs the workers of `apps` until one of `signals` arrives, then drains and stops them all.
 * Rejects (after stopping the others) if an app fails to start.
 */
export async function runWorkers(apps: readonly (QueueTasks | HostedApp)[], options: RunWorkersOptions = {}): Promise<void> {
  const host = new WorkerHost(apps, options);
  const source: SignalSource = options.signalSource ?? process;
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  for (const s of signals) source.once(s, onSignal);
  // A host of memory-only apps holds no socket; this keeps the process up until a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await host.start();
    options.onStarted?.(host);
    const signal = await received;
    options.onSignal?.(signal);
  } finally {
    clearInterval(keepAlive);
    for (const s of signals) source.removeListener(s, onSignal);
    await host.stop();
  }
}
