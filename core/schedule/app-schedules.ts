/**
 * The app's side of schedules: calls before start are kept and stored at start; after start they
 * go to the GlobalConfig at once and wake this process's firing loop.
 */
import type { Broker, GlobalConfig } from '../contracts.js';
import type { LoggerLike } from '../logger.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import { Scheduler, ScheduleStore } from './scheduler.js';
import { defineSchedule, type ScheduleDefinition, type ScheduleInfo, type ScheduleOptions, type ScheduleSpec } from './spec.js';

export interface ScheduleParts {
  readonly broker: Broker;
  readonly globalConfig: GlobalConfig;
  /** True when the GlobalConfig is the in-process default (no plugin provided one). */
  readonly defaultGlobalConfig: boolean;
}

export class AppSchedules {
  readonly #appName: string;
  /** Calls made before start, in order; `undefined` marks an unschedule. */
  readonly #pending = new Map<string, ScheduleDefinition | undefined>();
  #store: ScheduleStore | undefined;
  #scheduler: Scheduler | undefined;
  /** Set at start when this app has no shared GlobalConfig: what schedule() then throws. */
  #unsupported: QTasksError | undefined;

  constructor(appName: string) {
    this.#appName = appName;
  }

  async define(id: string, spec: ScheduleSpec, task: string, args: readonly unknown[], options: ScheduleOptions): Promise<ScheduleDefinition> {
    const def = await defineSchedule(id, spec, task, args, options, Date.now());
    if (this.#unsupported !== undefined) throw this.#unsupported;
    if (this.#store === undefined) this.#pending.set(id, def);
    else {
      await this.#store.put(def);
      this.#scheduler?.poke();
    }
    return def;
  }

  async remove(id: string): Promise<boolean> {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    if (this.#store === undefined) {
      const had = this.#pending.get(id) !== undefined;
      this.#pending.set(id, undefined);
      return had;
    }
    const had = await this.#store.remove(id);
    this.#scheduler?.poke();
    return had;
  }

  async list(): Promise<ScheduleInfo[]> {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    if (this.#store !== undefined) return this.#store.list(Date.now());
    const out: ScheduleInfo[] = [];
    for (const def of this.#pending.values()) if (def !== undefined) out.push({ ...def, last: undefined, next: undefined });
    return out;
  }

  /** At app start: checks there is a shared store, stores what was defined before start. */
  async start(parts: ScheduleParts): Promise<void> {
    if (parts.defaultGlobalConfig && parts.broker.name !== 'memory') {
      // Only an error when schedules are used: a later schedule() call throws it then.
      this.#unsupported = this.#error(parts.broker.name);
      if ([...this.#pending.values()].some((d) => d !== undefined)) throw this.#unsupported;
      return;
    }
    if (parts.globalConfig.sets === undefined) {
      this.#unsupported = new QTasksError(
        ErrorCodes.UNSUPPORTED,
        `schedules of app "${this.#appName}" keep their ids in a set of the GlobalConfig (GlobalConfig.sets, changed atomically), which global config "${parts.globalConfig.name}" does not offer: use redis() or memory() for the global config`,
      );
      if ([...this.#pending.values()].some((d) => d !== undefined)) throw this.#unsupported;
      return;
    }
    const store = new ScheduleStore(parts.globalConfig);
    for (const [id, def] of this.#pending) {
      if (def === undefined) await store.remove(id);
      else await store.put(def);
    }
    this.#pending.clear();
    this.#store = store;
  }

  #error(broker: string): QTasksError {
    return new QTasksError(
      ErrorCodes.UNSUPPORTED,
      `schedules of app "${this.#appName}" need a GlobalConfig every process shares, and broker ${broker} has none: add the redis({ broker: false }) plugin for one`,
    );
  }

  /** Runs this process's firing loop (worker processes only). */
  async run(log: LoggerLike, enqueue: (task: string, args: readonly unknown[], id: string) => Promise<unknown>): Promise<void> {
    if (this.#store === undefined) return;
    this.#scheduler = new Scheduler(this.#store, log, enqueue);
    await this.#scheduler.start();
  }

  async stop(): Promise<void> {
    await this.#scheduler?.stop();
    this.#scheduler = undefined;
  }
}
