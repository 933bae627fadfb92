/**
 * Typed per-app state (QTasks' `State`): a value shared by the tasks of one app in one process,
 * whose updates run one at a time, so concurrent tasks never lose each other's writes. Declare
 * it as an app-scoped dependency and reach it from any task with `ctx.use`.
 */
export class State<T> {
  #value: T;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(initial: T) {
    this.#value = initial;
  }

  /** The current value (do not mutate it: use update). */
  get(): T {
    return this.#value;
  }

  /**
   * Replaces the value with `fn(current)`; updates queue behind each other, so each sees the
   * previous one's result. Resolves with the new value; a throwing fn leaves the value as it was.
   */
  update(fn: (current: T) => T | Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      this.#value = await fn(this.#value);
      return this.#value;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
