/**
 * Callers waiting for tasks' final records in this process, by task id, each with its own
 * timeout. The storages' `waitFinal` share it: they differ in how they learn a record is final,
 * not in how they keep their waiters.
 */
import type { TaskRecord } from './record.js';
import { setLongTimeout } from './timers.js';

type Wake = (record: TaskRecord | undefined) => void;

export interface Wait {
  /** The final record, or undefined at the timeout (or when the storage stops). */
  readonly result: Promise<TaskRecord | undefined>;
  /** Stops waiting without an answer; `result` never settles. */
  cancel(): void;
}

export class Waiters {
  readonly #byId = new Map<string, Set<Wake>>();

  get size(): number {
    return this.#byId.size;
  }

  /** Ids someone waits for now. */
  ids(): string[] {
    return [...this.#byId.keys()];
  }

  wait(id: string, timeoutMs: number): Wait {
    let set = this.#byId.get(id);
    if (set === undefined) this.#byId.set(id, (set = new Set()));
    const waiters = set;
    let wake!: Wake;
    const result = new Promise<TaskRecord | undefined>((resolve) => (wake = resolve));
    const done: Wake = (record) => {
      timer.cancel();
      waiters.delete(done);
      if (waiters.size === 0 && this.#byId.get(id) === waiters) this.#byId.delete(id);
      wake(record);
    };
    // Any length: a wait of more than 24.8 days must not end after 1 ms.
    const timer = setLongTimeout(() => done(undefined), timeoutMs);
    waiters.add(done);
    return {
      result,
      cancel: () => {
        timer.cancel();
        waiters.delete(done);
        if (waiters.size === 0 && this.#byId.get(id) === waiters) this.#byId.delete(id);
      },
    };
  }

  /** Answers every caller waiting for `record.id`. */
  wake(record: TaskRecord): void {
    const set = this.#byId.get(record.id);
    if (set === undefined) return;
    for (const done of [...set]) done(record);
  }

  /** Answers every caller with undefined (the storage stops). */
  clear(): void {
    for (const set of [...this.#byId.values()]) for (const done of [...set]) done(undefined);
  }
}
