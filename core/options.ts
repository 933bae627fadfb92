/**
 * The option keys the kernel knows, in one place. A key the list does not have is refused
 * (`QTASKS_ERR_INVALID_OPTION` naming it): `retires: 3` must not quietly mean "no retries" for
 * JavaScript callers and `as` casts, which the types do not protect. Each list is a record over
 * the interface's keys, so adding an option to the interface without its line here (or a line
 * without the option) does not compile: one line per new option.
 */
import { ErrorCodes, QTasksError } from './errors.js';
import type { SandboxOptions } from './sandbox/index.js';
import type { AddTaskOptions, TaskOptions } from './task.js';

export const TASK_OPTION_KEYS: Readonly<Record<keyof TaskOptions, true>> = Object.freeze({
  name: true,
  queue: true,
  priority: true,
  retry: true,
  retryOn: true,
  retryDelayMs: true,
  retryMaxDelayMs: true,
  maxTime: true,
  delay: true,
  echo: true,
  generateHandler: true,
  middlewaresBefore: true,
  middlewaresAfter: true,
  resultTtlMs: true,
  tags: true,
  description: true,
  args: true,
  result: true,
  maxLogLines: true,
  rateLimit: true,
  globalConcurrency: true,
});

/** A sandboxed task (`app.task({ name, processor, sandbox })`) takes these on top of the task options. */
export const SANDBOXED_TASK_OPTION_KEYS: Readonly<Record<keyof TaskOptions | keyof SandboxOptions, true>> = Object.freeze({
  ...TASK_OPTION_KEYS,
  processor: true,
  sandbox: true,
  resourceLimits: true,
  execArgv: true,
  sandboxGraceMs: true,
});

export const ADD_TASK_OPTION_KEYS: Readonly<Record<keyof AddTaskOptions, true>> = Object.freeze({
  priority: true,
  delay: true,
  queue: true,
  timeout: true,
  meta: true,
  onProgress: true,
  id: true,
  dedup: true,
});

/** Throws INVALID_OPTION for the first key of `options` not in `known`, suggesting the nearest known one. */
export function rejectUnknownKeys(options: object, known: Readonly<Record<string, true>>, where: string): void {
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const near = nearest(key, Object.keys(known));
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `${where}: unknown option "${key}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
  }
}

/** The known key close enough to `key` to be what was meant (a typo), if any. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 2)) + 1;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, with adjacent swaps counted as one edit. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
