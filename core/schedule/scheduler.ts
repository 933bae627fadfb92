/**
 * Fires an app's schedules without a leader. Definitions live in the app's GlobalConfig; every
 * worker process wakes at each due fire time and enqueues the fire as an ordinary task with the
 * id `sched:<scheduleId>:<fireTimeMs>`. Id deduplication makes each fire run once whichever
 * process enqueues it, and a dead process loses no fire because the others fire it too.
 *
 * GlobalConfig: the set `schedules` (the ids, GlobalConfig.sets: each add atomic, so processes
 * defining different schedules at once keep them all), keys `schedule:<id>` (JSON definition, ''
 * once removed) and `schedule-state:<id>` (JSON { last, count }: the last fire time enqueued and fires so far).
 */
import type { GlobalConfig, GlobalSets } from '../contracts.js';
import type { LoggerLike } from '../logger.js';
import { setLongTimeout, type LongTimer } from '../timers.js';
import { FireTimes, type ScheduleDefinition, type ScheduleInfo } from './spec.js';

/** How often a worker looks for schedules defined or changed by other processes. */
export const RELOAD_MS = 1_000;

interface FireState {
  readonly last: number | undefined;
  readonly count: number;
}

interface Known {
  readonly raw: string;
  readonly def: ScheduleDefinition;
  readonly times: FireTimes;
  /** The next fire time this process waits for. */
  next: number | undefined;
}

export const fireId = (scheduleId: string, at: number): string => `sched:${scheduleId}:${at}`;

/** The schedule store in a GlobalConfig (shared by the app's API and the firing loop). */
export class ScheduleStore {
  readonly #gc: GlobalConfig;
  readonly #sets: GlobalSets;

  /** `gc.sets` must exist (AppSchedules checks it at start). */
  constructor(gc: GlobalConfig) {
    this.#gc = gc;
    this.#sets = gc.sets!;
  }

  async ids(): Promise<string[]> {
    return (await this.#sets.members('schedules')).sort();
  }

  async raw(id: string): Promise<string | undefined> {
    const raw = await this.#gc.get(`schedule:${id}`);
    return raw === undefined || raw === '' ? undefined : raw;
  }

  /** Stores `def` unless the same schedule is stored already (a restart defining it again changes nothing). */
  async put(def: ScheduleDefinition): Promise<void> {
    const stored = await this.raw(def.id);
    const same = stored !== undefined && JSON.stringify({ ...(JSON.parse(stored) as ScheduleDefinition), definedAt: 0 }) === JSON.stringify({ ...def, definedAt: 0 });
    if (!same) await this.#gc.set(`schedule:${def.id}`, JSON.stringify(def));
    await this.#sets.add('schedules', def.id);
  }

  /** Removes a schedule; true when there was one. */
  async remove(id: string): Promise<boolean> {
    const had = (await this.raw(id)) !== undefined;
    await this.#gc.set(`schedule:${id}`, '');
    await this.#sets.remove('schedules', id);
    return had;
  }

  async state(id: string): Promise<FireState> {
    const raw = await this.#gc.get(`schedule-state:${id}`);
    if (raw === undefined || raw === '') return { last: undefined, count: 0 };
    const s = JSON.parse(raw) as { last?: number; count?: number };
    return { last: s.last, count: s.count ?? 0 };
  }

  async setState(id: string, state: FireState): Promise<void> {
    await this.#gc.set(`schedule-state:${id}`, JSON.stringify(state));
  }

  async list(now: number): Promise<ScheduleInfo[]> {
    const out: ScheduleInfo[] = [];
    for (const id of await this.ids()) {
      const raw = await this.raw(id);
      if (raw === undefined) continue;
      const def = JSON.parse(raw) as ScheduleDefinition;
      const { last, count } = await this.state(id);
      const times = await FireTimes.of(def);
      const done = def.limit !== undefined && count >= def.limit;
      out.push({ ...def, last, next: done ? undefined : times.next(Math.max(last ?? -Infinity, now - 1)) });
    }
    return out;
  }
}

/** The firing loop of one worker process: one chained timer for all of the app's schedules. */
export class Scheduler {
  readonly #store: ScheduleStore;
  readonly #log: LoggerLike;
  readonly #enqueue: (task: string, args: readonly unknown[], id: string) => Promise<unknown>;
  readonly #known = new Map<string, Known>();
  #timer: LongTimer | undefined;
  #lastReload = 0;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(store: ScheduleStore, log: LoggerLike, enqueue: (task: string, args: readonly unknown[], id: string) => Promise<unknown>) {
    this.#store = store;
    this.#log = log;
    this.#enqueue = enqueue;
  }

  start(): Promise<void> {
    return this.#tick(true);
  }

  /** Wakes now (a schedule changed in this process) instead of at the next reload. */
  poke(): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    void this.#tick(true);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running?.catch(() => undefined);
  }

  #tick(reload: boolean): Promise<void> {
    // One pass at a time: a pass still running absorbs a wake-up, the next pass re-arms.
    const run = (this.#running ?? Promise.resolve()).then(() => this.#pass(reload));
    this.#running = run.catch((err: unknown) => this.#log.warn({ err }, 'schedule pass failed; retrying'));
    return this.#running.finally(() => this.#arm());
  }

  async #pass(reload: boolean): Promise<void> {
    if (this.#stopped) return;
    const now = Date.now();
    if (reload || now - this.#lastReload >= RELOAD_MS) await this.#reload(now);
    for (const k of this.#known.values()) {
      if (this.#stopped) return;
      if (k.next !== undefined && k.next <= Date.now()) await this.#fire(k.def.id);
    }
  }

  async #reload(now: number): Promise<void> {
    this.#lastReload = now;
    const ids = new Set(await this.#store.ids());
    for (const id of this.#known.keys()) if (!ids.has(id)) this.#known.delete(id);
    for (const id of ids) {
      const raw = await this.#store.raw(id);
      if (raw === undefined) {
        this.#known.delete(id);
        continue;
      }
      if (this.#known.get(id)?.raw === raw) continue;
      const def = JSON.parse(raw) as ScheduleDefinition;
      const times = await FireTimes.of(def);
      const k: Known = { raw, def, times, next: undefined };
      this.#known.set(id, k);
      await this.#plan(k, now);
    }
  }

  /** Sets `k.next` from the stored state: the first fire after the last one (or now) that is not over. */
  async #plan(k: Known, now: number): Promise<void> {
    const { last, count } = await this.#store.state(k.def.id);
    if (k.def.limit !== undefined && count >= k.def.limit) k.next = undefined;
    // A pending missed fire (catchUp) is due now; otherwise the first one after now.
    else k.next = k.times.due(last, count, now).length > 0 ? now : k.times.next(Math.max(last ?? -Infinity, now - 1));
  }

  async #fire(id: string): Promise<void> {
    // Re-read the definition: another process may have changed or removed it since the reload.
    const raw = await this.#store.raw(id);
    const prev = this.#known.get(id);
    if (raw === undefined) {
      this.#known.delete(id);
      return;
    }
    const k: Known = prev !== undefined && prev.raw === raw ? prev : { raw, def: JSON.parse(raw) as ScheduleDefinition, times: await FireTimes.of(JSON.parse(raw) as ScheduleDefinition), next: undefined };
    this.#known.set(id, k);
    const now = Date.now();
    const state = await this.#store.state(id);
    const fires = k.times.due(state.last, state.count, now);
    for (const at of fires) await this.#enqueue(k.def.task, k.def.args, fireId(id, at));
    if (fires.length > 0) {
      // Another process may have moved on meanwhile: never move the stored last fire backwards.
      const after = await this.#store.state(id);
      const last = fires[fires.length - 1]!;
      if (after.last === undefined || after.last < last) await this.#store.setState(id, { last, count: state.count + fires.length });
      this.#log.debug({ schedule: id, fires }, 'schedule fired');
    }
    await this.#plan(k, Date.now());
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    let at = this.#lastReload + RELOAD_MS;
    for (const k of this.#known.values()) if (k.next !== undefined && k.next < at) at = k.next;
    this.#timer = setLongTimeout(() => void this.#tick(false), Math.max(0, at - Date.now())).unref();
  }
}
