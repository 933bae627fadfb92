/**
 * The kernel's record writes when the broker does not keep records. A storage with `saveMany`
 * gets the writes of one event-loop turn in one call (a SQL or HTTP storage: one round trip for
 * a burst of tasks, not three per task); without it, each write is its own `save`. Either way a
 * write resolves only once it is stored, so the kernel still tells the broker after the record.
 */
import type { RecordWrite, SaveOptions, Storage } from './contracts.js';
import { ErrorCodes, QTasksError } from './errors.js';
import type { TaskRecord } from './record.js';

/** Most writes one `saveMany` call carries; a larger turn is split (a script or statement stays bounded). */
export const MAX_SAVE_BATCH = 500;

interface Pending extends RecordWrite {
  readonly resolve: (stored: boolean) => void;
  readonly reject: (err: unknown) => void;
}

export class RecordWrites {
  readonly #storage: Storage;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** `storage.save`, grouped with the other writes of this turn when the storage can take them together. */
  save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    if (this.#storage.saveMany === undefined) return this.#storage.save(record, options);
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ record, options, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // After this turn's I/O callbacks and microtasks: deliveries and settlements of one burst meet here.
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const all = this.#pending;
    this.#pending = [];
    // Sent in order, batch after batch: a later write of an id (an outcome after its progress) lands later.
    for (let i = 0; i < all.length; i += MAX_SAVE_BATCH) void this.#send(all.slice(i, i + MAX_SAVE_BATCH));
  }

  async #send(batch: Pending[]): Promise<void> {
    const storage = this.#storage;
    try {
      if (batch.length === 1) {
        const only = batch[0]!;
        only.resolve(await storage.save(only.record, only.options));
        return;
      }
      const results = await storage.saveMany!(batch.map(({ record, options }) => ({ record, options })));
      if (!Array.isArray(results) || results.length !== batch.length) {
        throw new QTasksError(ErrorCodes.PLUGIN_FAILED, `storage "${storage.name}": saveMany of ${batch.length} records answered ${Array.isArray(results) ? `${results.length} results` : typeof results} (one boolean per record expected)`);
      }
      batch.forEach((w, i) => w.resolve(results[i] === true));
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
