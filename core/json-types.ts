/**
 * Compile-time checks that a task's parameters and result survive JSON, the only form a task
 * travels in. A type that would arrive changed (a Date as a string, a Map as `{}`) or not at all
 * (a function) turns the handler into a type error whose message names the place.
 */

/** Values JSON keeps as they are. */
export type JsonPrimitive = string | number | boolean | null;

type Named<T> = T extends Date
  ? 'a Date (it would arrive as a string)'
  : T extends ReadonlyMap<unknown, unknown> | WeakMap<object, unknown>
    ? 'a Map (it would arrive as {})'
    : T extends ReadonlySet<unknown> | WeakSet<object>
      ? 'a Set (it would arrive as {})'
      : T extends RegExp
        ? 'a RegExp (it would arrive as {})'
        : T extends ArrayBufferView | ArrayBuffer
          ? 'a binary buffer (it would arrive as a plain object)'
          : T extends PromiseLike<unknown>
            ? 'a Promise'
            : T extends (...args: never[]) => unknown
              ? 'a function (functions do not travel)'
              : T extends bigint
                ? 'a bigint (JSON has none)'
                : T extends symbol
                  ? 'a symbol (JSON has none)'
                  : T extends undefined
                    ? 'undefined (it would arrive as null or be dropped)'
                    : never;

// A depth guard keeps recursive types (trees, linked lists) from exhausting the checker.
type Depth = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8];

/**
 * Where `T` stops being JSON, as `"<path> is <what>"`, or never when it is JSON. `unknown` and
 * `any` pass: they promise nothing, so the run-time check at addTask is what guards them.
 */
export type JsonProblem<T, Path extends string, D extends number = 8> = [D] extends [never]
  ? never
  : 0 extends 1 & T
    ? never // any
    : unknown extends T
      ? never // unknown
      : T extends JsonPrimitive
        ? never
        : [Named<T>] extends [never]
          ? T extends readonly unknown[]
            ? JsonProblem<T[number], `${Path}[number]`, Depth[D]>
            : T extends object
              ? { [K in keyof T & string]-?: JsonProblem<Exclude<T[K], undefined>, `${Path}.${K}`, Depth[D]> }[keyof T & string]
              : never
          : `${Path} is ${Named<T>}`;

/**
 * The problems of each parameter of a handler, by position. `undefined` is let through here so
 * optional parameters stay possible (a call may leave them out); an explicit undefined in the
 * args is still refused at addTask.
 */
export type ArgsProblem<A extends readonly unknown[]> = {
  [I in keyof A]-?: I extends `${number}` ? JsonProblem<Exclude<A[I], undefined>, `parameter ${I}`> : never;
}[number];

/** What a handler's result must avoid (no result, undefined, is fine). */
export type ResultProblem<R> = JsonProblem<Exclude<R, undefined | void>, 'the result'>;

/**
 * `unknown` when args and result are JSON; otherwise an object type the handler cannot match,
 * whose one key spells out the problem in the compiler's error.
 */
export type JsonChecked<A extends readonly unknown[], R> = [ArgsProblem<A> | ResultProblem<R>] extends [never]
  ? unknown
  : { 'qtasks: task arguments and results must survive JSON': ArgsProblem<A> | ResultProblem<R> };
