/**
 * The memory storage's status indexes for a broker without records (RabbitMQ in one process):
 * the backend files every record under its queue and status as it is saved (index-state.ts);
 * list and clean are the memory control's own (control.ts).
 */
import type { ControlListPage, ControlListQuery, IndexCounts, ListStatus, StorageIndex } from '../../core/contracts.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import type { MemoryBackend } from './backend.js';
import { cleanRecords, listRecords } from './control.js';

const STATUSES = Object.values(TaskStatus);

export class MemoryStorageIndex implements StorageIndex {
  readonly #backend: MemoryBackend;

  constructor(backend: MemoryBackend) {
    this.#backend = backend;
  }

  async counts(queues: readonly string[] | undefined): Promise<IndexCounts[]> {
    const b = this.#backend;
    const now = Date.now();
    return (queues ?? b.index.queues().sort()).map((queue) => {
      const sizes = Object.fromEntries(STATUSES.map((s) => [s, b.index.size(queue, s)])) as Record<(typeof STATUSES)[number], number>;
      // in process, a scan of the new records is fine (the Redis storage keeps a 'delayed' index)
      let delayed = 0;
      for (const id of b.index.oldest(queue, TaskStatus.NEW, Infinity)) if ((b.getRecord(id)?.runAt ?? 0) > now) delayed++;
      return { queue, ...sizes, delayed };
    });
  }

  async list(query: ControlListQuery): Promise<ControlListPage> {
    return listRecords(this.#backend, query);
  }

  async requeue(record: TaskRecord): Promise<boolean> {
    const b = this.#backend;
    const current = b.getRecord(record.id);
    if (current === undefined || (current.status !== TaskStatus.ERROR && current.status !== TaskStatus.DEAD)) return false;
    b.replaceRecord(record);
    return true;
  }

  async remove(id: string): Promise<TaskRecord | undefined> {
    const b = this.#backend;
    const record = b.getRecord(id);
    if (record === undefined || record.status === TaskStatus.PROCESS) return undefined;
    b.deleteRecord(id);
    return record;
  }

  async clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
    return cleanRecords(this.#backend, status, olderThanMs, limit);
  }
}
