/**
 * The memory plugin's control plane: everything in process, over the backend's live tasks and
 * record index. With records (broker and storage in one), it does it all; a memory broker whose
 * records live elsewhere offers only what concerns its queues.
 */
import type {
  CancelFound,
  ComponentContext,
  Control,
  ControlCapability,
  ControlListPage,
  ControlListQuery,
  ListStatus,
  QueueCounts,
  TaskEvent,
} from '../../core/contracts.js';
import { TaskStatus, isFinal, messageToRecord, type TaskMessage, type TaskRecord } from '../../core/record.js';
import type { MemoryBackend } from './backend.js';

const QUEUE_SIDE: ControlCapability[] = ['cancel', 'promote', 'pause', 'events', 'progress'];
const ALL: ControlCapability[] = [...QUEUE_SIDE, 'counts', 'list', 'retry', 'remove', 'clean', 'purge'];

export class MemoryControl implements Control {
  readonly name = 'memory';
  readonly capabilities: ReadonlySet<ControlCapability>;
  readonly alternatives = 'memory() as both broker and storage, or redis() as both';
  readonly #backend: MemoryBackend;
  readonly #records: boolean;
  #resultTtlMs = 24 * 60 * 60 * 1000;

  constructor(backend: MemoryBackend, records: boolean) {
    this.#backend = backend;
    this.#records = records;
    this.capabilities = new Set(records ? ALL : QUEUE_SIDE);
  }

  start(ctx: ComponentContext): void {
    this.#resultTtlMs = ctx.config.resultTtlMs;
  }

  async counts(queues: readonly string[] | undefined): Promise<QueueCounts[]> {
    const b = this.#backend;
    const names = queues ?? [...new Set([...b.live.queues(), ...b.index.queues()])].sort();
    const all = b.paused.has('*');
    return names.map((queue) => {
      const live = b.live.counts(queue);
      return {
        queue,
        ...live,
        dead: b.index.size(queue, TaskStatus.DEAD),
        success: b.index.size(queue, TaskStatus.SUCCESS),
        error: b.index.size(queue, TaskStatus.ERROR),
        cancel: b.index.size(queue, TaskStatus.CANCEL),
        paused: all || b.paused.has(queue),
      };
    });
  }

  async list(query: ControlListQuery): Promise<ControlListPage> {
    return listRecords(this.#backend, query);
  }

  async cancel(id: string, reason: string): Promise<CancelFound> {
    const b = this.#backend;
    const live = b.live.get(id);
    if (live?.state === 'running') {
      b.requestCancel(id, reason);
      return 'running';
    }
    const task = b.unqueue(id);
    if (task !== undefined) {
      if (this.#records) {
        const now = Date.now();
        const base = b.getRecord(id) ?? messageToRecord(task.message, now);
        b.saveRecord({ ...base, status: TaskStatus.CANCEL, updatedAt: now, finishedAt: now, runAt: undefined, reason }, this.#resultTtlMs);
      }
      b.emit('cancelled', task.message, task.deliveries, { message: reason });
      return 'queued';
    }
    const record = this.#records ? b.getRecord(id) : undefined;
    return record !== undefined && isFinal(record.status) ? 'final' : 'unknown';
  }

  async retry(message: TaskMessage): Promise<boolean> {
    const b = this.#backend;
    const record = b.getRecord(message.id);
    if (record === undefined || (record.status !== TaskStatus.ERROR && record.status !== TaskStatus.DEAD) || b.live.get(message.id) !== undefined) return false;
    b.replaceRecord(messageToRecord(message, Date.now()));
    b.enqueue(message, 0, 0);
    return true;
  }

  async promote(id: string): Promise<boolean> {
    return this.#backend.promote(id);
  }

  async remove(id: string): Promise<boolean> {
    const b = this.#backend;
    if (b.live.get(id)?.state === 'running') return false;
    const queued = b.unqueue(id) !== undefined;
    return b.deleteRecord(id) || queued;
  }

  async clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
    return cleanRecords(this.#backend, status, olderThanMs, limit);
  }

  async purge(queue: string): Promise<number> {
    const b = this.#backend;
    let n = 0;
    for (const task of [...b.live.inQueue(queue)]) {
      if (task.state === 'running' || b.unqueue(task.message.id) === undefined) continue;
      if (this.#records) b.deleteRecord(task.message.id);
      n++;
    }
    return n;
  }

  async setPaused(queue: string, paused: boolean): Promise<void> {
    this.#backend.setPaused(queue, paused);
  }

  async progress(message: TaskMessage, attempt: number, value: unknown): Promise<boolean> {
    const b = this.#backend;
    const id = message.id;
    const live = b.live.get(id);
    // fenced: only the delivery that runs now may report (a stale worker's value is dropped)
    if (live === undefined || live.state !== 'running' || live.deliveries + 1 !== attempt) return false;
    if (this.#records) {
      const record = b.getRecord(id);
      if (record !== undefined && record.status === TaskStatus.PROCESS && record.attempts === attempt) b.saveRecord({ ...record, progress: value }, Infinity);
    }
    b.emit('progress', live.message, attempt, { progress: value });
    return true;
  }

  async subscribe(listener: (event: TaskEvent) => void): Promise<() => Promise<void>> {
    this.#backend.eventListeners.add(listener);
    return async () => void this.#backend.eventListeners.delete(listener);
  }

  async onCancel(listener: (id: string, reason: string) => void): Promise<() => Promise<void>> {
    this.#backend.cancelListeners.add(listener);
    return async () => void this.#backend.cancelListeners.delete(listener);
  }
}

// In process a page is cut from the index of each queue (newest first); the cursor is the
// position after the last record returned.
export function listRecords(b: MemoryBackend, query: ControlListQuery): ControlListPage {
  const queues = query.queue !== undefined ? [query.queue] : b.index.queues().sort();
  const records: TaskRecord[] = [];
  for (const queue of queues) {
    for (const id of b.index.newestFirst(queue, query.status)) {
      const record = b.getRecord(id);
      if (record !== undefined && record.status === query.status && (query.name === undefined || record.name === query.name)) records.push(record);
    }
  }
  records.sort((x, y) => y.updatedAt - x.updatedAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  let start = 0;
  if (query.cursor !== undefined) {
    const [at, id] = splitCursor(query.cursor);
    start = records.findIndex((r) => r.updatedAt < at || (r.updatedAt === at && r.id > id));
    if (start < 0) start = records.length;
  }
  const page = records.slice(start, start + query.limit);
  const last = page[page.length - 1];
  return start + query.limit < records.length && last !== undefined ? { records: page, cursor: `${last.updatedAt}:${last.id}` } : { records: page };
}

/** Deletes up to `limit` records of `status` last written more than `olderThanMs` ago. */
export function cleanRecords(b: MemoryBackend, status: ListStatus, olderThanMs: number, limit: number): number {
  const before = Date.now() - olderThanMs;
  let n = 0;
  for (const queue of b.index.queues()) {
    for (const id of b.index.oldest(queue, status, Infinity)) {
      if (n >= limit) return n;
      const record = b.getRecord(id);
      if (record === undefined || record.updatedAt > before) continue;
      b.deleteRecord(id);
      n++;
    }
  }
  return n;
}

function splitCursor(cursor: string): [number, string] {
  const colon = cursor.indexOf(':');
  return [Number(cursor.slice(0, colon)), cursor.slice(colon + 1)];
}
