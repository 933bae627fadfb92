/**
 * Schedule definitions: validation and fire-time arithmetic. Pure apart from loading croner
 * (an optional peer, imported only when a cron schedule is used).
 */
import { ErrorCodes, QTasksError } from '../errors.js';

/** When a schedule fires: a cron pattern (5 or 6 fields, seconds first when 6) or a fixed interval. */
export type ScheduleSpec = { readonly cron: string; readonly tz?: string } | { readonly every: number };

/** What to do with fire times missed while no worker of the app ran. */
export type CatchUp = 'none' | 'latest' | 'all';

export interface ScheduleOptions {
  /** No fire before this instant (epoch ms or Date). `every` counts its intervals from here (else from the epoch). */
  readonly startAt?: number | Date;
  /** No fire after this instant (epoch ms or Date). */
  readonly endAt?: number | Date;
  /** At most this many fires in all. */
  readonly limit?: number;
  /** Missed fires after downtime: none, only the latest (the default), or all (at most 100). */
  readonly catchUp?: CatchUp;
}

/** A schedule as stored in the app's GlobalConfig. */
export interface ScheduleDefinition {
  readonly id: string;
  readonly spec: ScheduleSpec;
  readonly task: string;
  readonly args: readonly unknown[];
  readonly startAt?: number;
  readonly endAt?: number;
  readonly limit?: number;
  readonly catchUp: CatchUp;
  /** When this version was defined: no fire before it (a changed spec does not catch up). */
  readonly definedAt: number;
}

/** A schedule as `app.schedules()` lists it. */
export interface ScheduleInfo extends ScheduleDefinition {
  /** The next fire time (epoch ms), or undefined when the schedule will not fire again. */
  readonly next: number | undefined;
  /** The last fire time found stored, if any. */
  readonly last: number | undefined;
}

/** The most missed fires `catchUp: 'all'` enqueues at once. */
export const MAX_CATCH_UP = 100;
/** A fire this late or less counts as on time (a busy or briefly stalled process), not as missed. */
export const ON_TIME_MS = 2_000;

const bad = (id: string, what: string): QTasksError => new QTasksError(ErrorCodes.INVALID_OPTION, `schedule "${id}": ${what}`);

function instant(id: string, name: string, v: number | Date | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== 'number' || !Number.isFinite(t)) throw bad(id, `${name} must be a Date or epoch ms, got ${String(v)}`);
  return t;
}

/** Checks the caller's input and builds the stored definition (cron patterns are parsed here). */
export async function defineSchedule(id: string, spec: ScheduleSpec, task: string, args: readonly unknown[], options: ScheduleOptions, now: number): Promise<ScheduleDefinition> {
  if (typeof id !== 'string' || id.length < 1 || id.length > 150 || /[\u0000-\u001f]/.test(id)) throw bad(String(id), 'the id must be 1 to 150 characters, no control characters');
  if (typeof spec !== 'object' || spec === null) throw bad(id, 'spec must be { cron, tz? } or { every: ms }');
  if ('every' in spec) {
    if (!Number.isSafeInteger(spec.every) || spec.every < 1) throw bad(id, `every must be a whole number of ms >= 1, got ${String(spec.every)}`);
  } else if ('cron' in spec && typeof spec.cron === 'string') {
    await cronOf(id, spec);
  } else {
    throw bad(id, 'spec must be { cron, tz? } or { every: ms }');
  }
  if (!Array.isArray(args)) throw bad(id, 'args must be an array');
  const startAt = instant(id, 'startAt', options.startAt);
  const endAt = instant(id, 'endAt', options.endAt);
  if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 1)) throw bad(id, `limit must be a whole number >= 1, got ${String(options.limit)}`);
  const catchUp = options.catchUp ?? 'latest';
  if (catchUp !== 'none' && catchUp !== 'latest' && catchUp !== 'all') throw bad(id, `catchUp must be 'none', 'latest' or 'all', got ${String(catchUp)}`);
  const spec2: ScheduleSpec = 'every' in spec ? { every: spec.every } : { cron: spec.cron, ...(spec.tz !== undefined ? { tz: spec.tz } : {}) };
  return {
    id,
    spec: spec2,
    task,
    args: [...args],
    ...(startAt !== undefined ? { startAt } : {}),
    ...(endAt !== undefined ? { endAt } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    catchUp,
    definedAt: now,
  };
}

interface CronLike {
  nextRun(prev?: Date): Date | null;
}

async function cronOf(id: string, spec: { cron: string; tz?: string }): Promise<CronLike> {
  let mod: typeof import('croner');
  try {
    mod = await import('croner');
  } catch (err) {
    throw new QTasksError(ErrorCodes.UNSUPPORTED, `schedule "${id}": cron schedules need the optional peer dependency croner (npm install croner)`, { cause: err });
  }
  try {
    const cron = new mod.Cron(spec.cron, { paused: true, ...(spec.tz !== undefined ? { timezone: spec.tz } : {}) });
    cron.nextRun(); // croner checks the time zone only when it computes a run
    return cron;
  } catch (err) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `schedule "${id}": bad cron "${spec.cron}"${spec.tz !== undefined ? ` or time zone "${spec.tz}"` : ''}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Computes fire times of one definition; croner is loaded once per definition. */
export class FireTimes {
  readonly #def: ScheduleDefinition;
  readonly #cron: CronLike | undefined;

  private constructor(def: ScheduleDefinition, cron: CronLike | undefined) {
    this.#def = def;
    this.#cron = cron;
  }

  static async of(def: ScheduleDefinition): Promise<FireTimes> {
    return new FireTimes(def, 'cron' in def.spec ? await cronOf(def.id, def.spec) : undefined);
  }

  /** The first fire time strictly after `after`, within startAt/endAt; undefined when none is left. */
  next(after: number): number | undefined {
    const def = this.#def;
    const from = Math.max(after, (def.startAt ?? def.definedAt) - 1, def.definedAt - 1);
    let t: number | undefined;
    if ('every' in def.spec) {
      // Counted from startAt, else from the epoch: every process derives the same fire times.
      const anchor = def.startAt ?? 0;
      const every = def.spec.every;
      t = from < anchor ? anchor : anchor + (Math.floor((from - anchor) / every) + 1) * every;
    } else {
      // Never at or before `from`: inside a fall-back's repeated hour croner can answer an earlier
      // instant, so ask again past it.
      let probe = from;
      for (let i = 0; i < 10 && t === undefined; i++) {
        const d = this.#cron!.nextRun(new Date(probe));
        if (d === null) return undefined;
        if (d.getTime() > from) t = d.getTime();
        else probe = from + (from - d.getTime()) + 1_000;
      }
    }
    if (t === undefined || (def.endAt !== undefined && t > def.endAt)) return undefined;
    return t;
  }

  /**
   * The fire times due at `now` after the last one fired (`last`, or none yet), `count` fires made
   * so far: on-time ones always, missed ones (older than ON_TIME_MS) as catchUp says.
   */
  due(last: number | undefined, count: number, now: number): number[] {
    const def = this.#def;
    const missed: number[] = [];
    const onTime: number[] = [];
    let t = this.next(last ?? -Infinity);
    let steps = 0;
    while (t !== undefined && t <= now) {
      if (t >= now - ON_TIME_MS) onTime.push(t);
      else {
        missed.push(t);
        if (missed.length > MAX_CATCH_UP) missed.shift();
      }
      // A long downtime of a fast schedule: skip ahead instead of walking every missed interval.
      const skip = ++steps > 10_000 && 'every' in def.spec ? this.next(now - ON_TIME_MS - 1 - (MAX_CATCH_UP + 1) * def.spec.every) : undefined;
      t = skip !== undefined && skip > t ? skip : this.next(t);
    }
    const caught = def.catchUp === 'all' ? missed : def.catchUp === 'latest' ? missed.slice(-1) : [];
    const fires = [...caught, ...onTime];
    return def.limit === undefined ? fires : fires.slice(0, Math.max(0, def.limit - count));
  }
}
