/**
 * Schedules for people: a spec in words ("every day at 03:00") and the next few fire times.
 * Shared by the dashboard's schedules page and `qtasks schedules`.
 */
import { FireTimes, type ScheduleInfo, type ScheduleSpec } from '../core/schedule/spec.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const NAMES: Record<string, number> = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };

/** 90_000 -> "1 minute 30 seconds"; whole units only, largest first. */
export function durationInWords(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
    [1, 'millisecond'],
  ];
  const parts: string[] = [];
  let left = ms;
  for (const [size, name] of units) {
    const n = Math.floor(left / size);
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
    left -= n * size;
  }
  return parts.length === 0 ? '0 milliseconds' : parts.join(' ');
}

const num = (field: string, max: number): number | undefined => (/^\d{1,2}$/.test(field) && Number(field) <= max ? Number(field) : undefined);
const two = (n: number): string => String(n).padStart(2, '0');

function day(field: string): string | undefined {
  const up = field.toUpperCase();
  if (up === '1-5' || up === 'MON-FRI') return 'every weekday (Monday to Friday)';
  if (up === '0,6' || up === '6,0' || up === 'SAT,SUN' || up === 'SUN,SAT') return 'every Saturday and Sunday';
  const d = NAMES[up] ?? num(up, 7);
  return d === undefined ? undefined : `every ${DAYS[d % 7]}`;
}

/** The common cron shapes in words; anything else is undefined (shown as the pattern itself). */
function cronWords(pattern: string): string | undefined {
  let f = pattern.trim().split(/\s+/);
  if (f.length === 6) {
    if (f[0] !== '0') return undefined; // sub-minute patterns stay as written
    f = f.slice(1);
  }
  if (f.length !== 5) return undefined;
  const [min, hour, dom, mon, dow] = f as [string, string, string, string, string];
  if (mon !== '*') return undefined;
  const m = num(min, 59);
  const h = num(hour, 23);
  if (dom === '*' && dow === '*') {
    if (min === '*' && hour === '*') return 'every minute';
    const everyMin = /^\*\/(\d+)$/.exec(min);
    if (everyMin !== null && hour === '*') return `every ${everyMin[1]} minutes`;
    if (m !== undefined && hour === '*') return `every hour at minute ${m}`;
    const everyHour = /^\*\/(\d+)$/.exec(hour);
    if (m !== undefined && everyHour !== null) return `every ${everyHour[1]} hours at minute ${m}`;
    if (m !== undefined && h !== undefined) return `every day at ${two(h)}:${two(m)}`;
    return undefined;
  }
  if (m === undefined || h === undefined) return undefined;
  if (dom === '*') {
    const days = day(dow);
    return days === undefined ? undefined : `${days} at ${two(h)}:${two(m)}`;
  }
  const d = num(dom, 31);
  if (d !== undefined && dow === '*') return `every month on day ${d} at ${two(h)}:${two(m)}`;
  return undefined;
}

/** A spec as a sentence: `every 5 minutes`, `every day at 03:00 (Europe/Paris)`, or `cron "…"`. */
export function specInWords(spec: ScheduleSpec): string {
  if ('every' in spec) return `every ${durationInWords(spec.every)}`;
  const words = cronWords(spec.cron);
  const zone = spec.tz !== undefined ? ` (${spec.tz})` : ' (server time)';
  return `${words ?? `cron "${spec.cron}"`}${zone}`;
}

/** The spec as written: the cron pattern, or the interval in ms. */
export function specAsWritten(spec: ScheduleSpec): string {
  return 'every' in spec ? `every ${spec.every} ms` : `cron ${spec.cron}${spec.tz !== undefined ? ` tz ${spec.tz}` : ''}`;
}

/**
 * Up to `count` coming fire times: `next` as the store computed it, then the spec's following
 * ones. With a fire limit only `next` is known for sure (the fires left are not listed here).
 */
export async function upcoming(info: ScheduleInfo, count = 3): Promise<number[]> {
  if (info.next === undefined) return [];
  const out = [info.next];
  if (info.limit !== undefined) return out;
  try {
    const times = await FireTimes.of(info);
    while (out.length < count) {
      const t = times.next(out[out.length - 1]!);
      if (t === undefined) break;
      out.push(t);
    }
  } catch {
    // A spec this process cannot compute (croner missing): the store's `next` is still right.
  }
  return out;
}
