/** Memory storage and global config over a MemoryBackend. */
import type { ComponentContext, GlobalConfig, GlobalSets, GroupJoin, Limiter, PublishReservation, PublishReserveOptions, RecordWrite, ReserveOptions, Retention, SaveOptions, Storage, WorkerInfo } from '../../core/contracts.js';
import { TaskStatus, isFinal } from '../../core/record.js';
import type { TaskRecord } from '../../core/record.js';
import type { MemoryBackend } from './backend.js';
import { MemoryStorageIndex } from './storage-index.js';

export class MemoryStorage implements Storage {
  readonly name = 'memory';
  readonly #backend: MemoryBackend;
  /** Offered beside a broker without records (the memory broker keeps retention itself). */
  readonly index: MemoryStorageIndex | undefined;
  readonly #retention: Retention | undefined;

  /** `retention`: given when this storage is used beside another broker (it then offers `index`). */
  constructor(backend: MemoryBackend, retention?: Retention) {
    this.#backend = backend;
    this.#retention = retention;
    this.index = retention !== undefined ? new MemoryStorageIndex(backend) : undefined;
  }

  async start(_ctx: ComponentContext): Promise<void> {}

  async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#write(record, options.ttlMs);
  }

  async saveMany(writes: readonly RecordWrite[]): Promise<boolean[]> {
    return writes.map((w) => this.#write(w.record, w.options.ttlMs));
  }

  #write(record: TaskRecord, ttlMs: number): boolean {
    const ok = this.#backend.saveRecord(record, ttlMs);
    const keep = ok && isFinal(record.status) ? this.#retention?.[record.status as keyof Retention] : undefined;
    if (keep !== undefined) this.#backend.trimRecords(record.queue, record.status, keep);
    return ok;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    return this.#backend.getRecord(id);
  }

  async getMany(ids: readonly string[]): Promise<Array<TaskRecord | undefined>> {
    return ids.map((id) => this.#backend.getRecord(id));
  }

  /** In process: the fence, the count and the write in one synchronous step (atomic). */
  async join(entry: GroupJoin): Promise<number> {
    const { record } = entry;
    if ((this.#backend.getRecord(record.id)?.attempts ?? 0) > record.attempts) return 0;
    const count = this.#backend.joins.add(entry.group, entry.member, entry.ttlMs);
    // The join that completes the group leaves the record to its caller (Storage.join).
    if (count < entry.size) this.#write(record, entry.ttlMs);
    return count;
  }

  /** Takes the id (and dedup key) in this storage for a broker that does not keep records. */
  async reserve(record: TaskRecord, options: ReserveOptions): Promise<string | undefined> {
    const backend = this.#backend;
    if (backend.getRecord(record.id) !== undefined) return record.id;
    const dedup = options.dedup;
    if (dedup !== undefined) {
      const now = Date.now();
      const held = backend.dedup.holder(dedup.key, now);
      if (held !== undefined) {
        const status = backend.getRecord(held.id)?.status;
        // simple: held while the task is pending (its record exists and is not final)
        if (dedup.mode === 'throttle' || (status !== undefined && !isFinal(status))) return held.id;
      }
      backend.dedup.take(dedup.key, record.id, dedup.mode === 'throttle' || dedup.ttlMs > 0 ? now + dedup.ttlMs : Infinity);
    }
    backend.saveRecord(record, options.ttlMs);
    return undefined;
  }

  /**
   * reserve, with the record marked unconfirmed until publishMs from now; a mark past its deadline
   * on a record still `new` is taken over. One synchronous step: atomic.
   */
  async reservePublish(record: TaskRecord, options: PublishReserveOptions): Promise<PublishReservation> {
    const backend = this.#backend;
    const now = Date.now();
    const own = this.#unconfirmed(record.id, now);
    if (own === undefined && backend.getRecord(record.id) !== undefined) return { kind: 'existing', id: record.id };
    if (own !== undefined && own > 0) return { kind: 'publishing', retryMs: own };
    const dedup = options.dedup;
    if (dedup !== undefined) {
      const held = backend.dedup.holder(dedup.key, now);
      if (held !== undefined) {
        const wait = this.#unconfirmed(held.id, now);
        if (wait !== undefined && wait > 0) return { kind: 'publishing', retryMs: wait };
        // A holder whose publisher missed its deadline was never published: the key is free.
        if (wait === undefined) {
          const status = backend.getRecord(held.id)?.status;
          if (dedup.mode === 'throttle' || (status !== undefined && !isFinal(status))) return { kind: 'existing', id: held.id };
        }
      }
      backend.dedup.take(dedup.key, record.id, dedup.mode === 'throttle' || dedup.ttlMs > 0 ? now + dedup.ttlMs : Infinity);
    }
    backend.saveRecord(record, options.ttlMs);
    backend.publishing.set(record.id, now + options.publishMs);
    return { kind: 'reserved' };
  }

  async confirmPublish(id: string, published: boolean): Promise<void> {
    const marks = this.#backend.publishing;
    if (published) marks.delete(id);
    else if (marks.has(id)) marks.set(id, 0);
  }

  /**
   * Ms until the reservation of `id` may be taken over (<= 0: now), or undefined when its record
   * is no unconfirmed reservation (no mark, or a record saved over it: the mark is dropped then).
   */
  #unconfirmed(id: string, now: number): number | undefined {
    const marks = this.#backend.publishing;
    const until = marks.get(id);
    if (until === undefined) return undefined;
    const record = this.#backend.getRecord(id);
    if (record === undefined || record.status !== TaskStatus.NEW || record.attempts !== 0) {
      marks.delete(id);
      return undefined;
    }
    return until - now;
  }

  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    return this.#backend.waitFinal(id, timeoutMs);
  }

  async stop(): Promise<void> {}
}

export class MemoryGlobalConfig implements GlobalConfig {
  readonly name = 'memory';
  readonly #backend: MemoryBackend;
  readonly limiter: Limiter;

  constructor(backend: MemoryBackend) {
    this.#backend = backend;
    this.limiter = backend.limiter;
  }

  async start(_ctx: ComponentContext): Promise<void> {}

  async set(key: string, value: string): Promise<void> {
    this.#backend.kv.set(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    return this.#backend.kv.get(key);
  }

  async delete(key: string): Promise<void> {
    this.#backend.kv.delete(key);
  }

  // In process each change is one synchronous step: atomic.
  readonly sets: GlobalSets = {
    add: async (key, member) => {
      let set = this.#backend.sets.get(key);
      if (set === undefined) this.#backend.sets.set(key, (set = new Set()));
      const had = set.has(member);
      set.add(member);
      return !had;
    },
    remove: async (key, member) => this.#backend.sets.get(key)?.delete(member) ?? false,
    members: async (key) => [...(this.#backend.sets.get(key) ?? [])],
  };

  async heartbeat(worker: WorkerInfo, ttlMs: number): Promise<void> {
    // A copy: the caller's object may change after this call, a networked store would not see that.
    const info: WorkerInfo = { ...worker, queues: [...worker.queues], tasks: [...worker.tasks] };
    this.#backend.heartbeats.set(worker.id, { until: Date.now() + ttlMs, info });
  }

  async leave(workerId: string): Promise<void> {
    this.#backend.heartbeats.delete(workerId);
  }

  async workers(): Promise<WorkerInfo[]> {
    return this.#live().map((w) => ({ ...w, queues: [...w.queues], tasks: [...w.tasks] }));
  }

  async alive(): Promise<boolean> {
    return this.#live().length > 0;
  }

  /** Live workers; expired ones are dropped on the way (no timer). */
  #live(): WorkerInfo[] {
    const now = Date.now();
    const out: WorkerInfo[] = [];
    for (const [id, beat] of this.#backend.heartbeats) {
      if (beat.until > now) out.push(beat.info);
      else this.#backend.heartbeats.delete(id);
    }
    return out;
  }

  async stop(): Promise<void> {}
}
