/**
 * Plain JSON: what may travel to a broker and be stored. Arguments, `meta`, results and records
 * are checked here once, in the kernel, so no broker ever meets a value whose encoding throws or
 * changes it (an object with `toJSON`, a throwing getter or proxy, a BigInt, deep nesting).
 */
import { messageOf } from './errors.js';

/** Deeper values are refused: JSON.stringify and JSON.parse recurse, and a stack overflow is a RangeError nobody handles. */
export const MAX_JSON_DEPTH = 1_000;

/** Why a value is not plain JSON: `where` is a path suffix (`[0].when`), `what` the problem there (`is a function`). */
export class NotPlainJson extends Error {
  where: string;
  readonly what: string;

  constructor(where: string, what: string, cause?: unknown) {
    super(what, cause === undefined ? undefined : { cause });
    this.name = 'NotPlainJson';
    this.where = where;
    this.what = what;
  }

  /** `args[0].when is a function`, with a very long path shortened in the middle. */
  describe(root: string): string {
    const w = this.where.length > 600 ? `${this.where.slice(0, 300)}…${this.where.slice(-200)}` : this.where;
    return `${root}${w} ${this.what}`;
  }
}

export interface PlainJsonOptions {
  /** Object fields set to `undefined` are allowed (JSON leaves them out): records have them. Default false. */
  readonly undefinedFields?: boolean;
}

/** Thrown by the untracked walk past this depth: it may be a cycle, so the walk restarts tracking. */
const UNTRACKED_DEPTH = 64;
const MAYBE_CYCLE = new NotPlainJson('', 'nests too deeply');

/**
 * Returns `value` itself if it is plain JSON (nothing is allocated then); throws NotPlainJson
 * naming the place otherwise: `undefined`, functions, symbols, BigInt, NaN and infinities, class
 * instances, objects with `toJSON` (a `Date` would arrive as a string), `Map`/`Set`, cycles,
 * nesting beyond MAX_JSON_DEPTH, or a getter or proxy that throws (what it threw is the `cause`).
 */
export function toPlainJson<T>(value: T, options?: PlainJsonOptions): T {
  const undefinedFields = options?.undefinedFields === true;
  try {
    check(value, undefined, 0, undefinedFields);
  } catch (err) {
    if (err !== MAYBE_CYCLE) throw err;
    check(value, new Set(), 0, undefinedFields);
  }
  return value;
}

/** Where `value` stops being plain JSON, as `[0].when is a function` (or ` is a function` at the top); undefined when it is plain JSON. */
export function jsonProblem(value: unknown): string | undefined {
  try {
    toPlainJson(value);
    return undefined;
  } catch (err) {
    return err instanceof NotPlainJson ? err.describe('') : ` threw: ${messageOf(err)}`;
  }
}

function scalarProblem(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `is ${value}`;
    case 'undefined':
      return 'is undefined';
    default:
      return `is a ${typeof value}`;
  }
}

/** What a non-array object is: 'object' when plain, else its class name. */
function kindOf(value: object): string {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Object.prototype || proto === null) return 'object';
  let name: unknown;
  try {
    name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  } catch {
    name = undefined;
  }
  return typeof name === 'string' && name !== '' ? name : 'non-plain object';
}

/** Walks without allocating; a problem is thrown from where it is, and each level adds its step on the way out. */
function check(value: unknown, seen: Set<object> | undefined, depth: number, undefinedFields: boolean): void {
  if (typeof value !== 'object' || value === null) {
    const problem = value === null ? undefined : scalarProblem(value);
    if (problem !== undefined) throw new NotPlainJson('', problem);
    return;
  }
  if (seen === undefined) {
    if (depth > UNTRACKED_DEPTH) throw MAYBE_CYCLE;
  } else {
    if (seen.has(value)) throw new NotPlainJson('', 'is a circular reference');
    if (depth >= MAX_JSON_DEPTH) throw new NotPlainJson('', `nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let step = '';
  try {
    if (Array.isArray(value)) {
      seen?.add(value);
      for (let i = 0; i < value.length; i++) {
        step = `[${i}]`;
        check(value[i], seen, depth + 1, undefinedFields);
      }
    } else {
      const kind = kindOf(value);
      if (kind !== 'object') throw new NotPlainJson('', `is a ${kind}`);
      seen?.add(value);
      for (const key in value) {
        step = `.${key}`;
        const field = (value as Record<string, unknown>)[key];
        if (field === undefined && undefinedFields) continue;
        check(field, seen, depth + 1, undefinedFields);
      }
    }
    seen?.delete(value);
  } catch (err) {
    if (err === MAYBE_CYCLE) throw err;
    if (err instanceof NotPlainJson) {
      err.where = step + err.where;
      throw err;
    }
    throw new NotPlainJson(step, `threw when read: ${messageOf(err)}`, err);
  }
}
