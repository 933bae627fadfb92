/**
 * The in-process data behind the memory plugin: queues, delays, leases, dead letters, records
 * and the key-value store. Apps that are given the same backend share one queue, which is how
 * tests model a producer and several workers.
 */
import type { DeadLetter, TaskEvent, WorkerInfo } from '../../core/contracts.js';
import { isFinal, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { setLongTimeout, type LongTimer } from '../../core/timers.js';
import { Waiters } from '../../core/waiters.js';
import { DedupKeys } from './dedup.js';
import { MemoryLimiter } from './limiter.js';
import { Heap } from './heap.js';
import { JoinSets } from './storage-join.js';
import { LiveTasks, RecordIndex, type LiveTask } from './index-state.js';

interface Ready {
  readonly message: TaskMessage;
  readonly seq: number;
  /** Deliveries so far; travels with the entry so no per-task map is needed. */
  readonly deliveries: number;
  /** Of those, how many were lost (never settled). */
  readonly lost: number;
}

interface Delayed extends Ready {
  readonly at: number;
}

interface Stored {
  record: TaskRecord;
  expiresAt: number;
}

/** A consumer registered by one broker instance. */
export interface MemoryConsumer {
  readonly queues: readonly string[];
  readonly concurrency: number;
  unsettled: number;
  paused: boolean;
  deliver(message: TaskMessage, attempt: number, lost: number): void;
}

const byPriority = (a: Ready, b: Ready): boolean => a.message.priority < b.message.priority || (a.message.priority === b.message.priority && a.seq < b.seq);

export class MemoryBackend {
  readonly #queues = new Map<string, Heap<Ready>>();
  readonly #delayed = new Heap<Delayed>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  readonly #records = new Map<string, Stored>();
  // Per TTL, records expire in the order they were written: a FIFO per TTL value is enough.
  readonly #expiries = new Map<number, { ids: string[]; head: number }>();
  readonly #waiters = new Waiters();
  readonly #consumers = new Set<MemoryConsumer>();
  readonly #dead: DeadLetter[] = [];
  readonly kv = new Map<string, string>();
  /** GlobalConfig.sets. */
  readonly sets = new Map<string, Set<string>>();
  /** Worker id -> when its heartbeat expires (epoch ms) and what it said. */
  readonly heartbeats = new Map<string, { until: number; info: WorkerInfo }>();
  /** Tasks queued, delayed or running, by id: what the control plane counts, cancels and promotes. */
  readonly live = new LiveTasks();
  /** Record ids by queue and status (newest last), kept in step with every record write. */
  readonly index = new RecordIndex();
  /** Queues paused through the control plane ('*': all); consumers skip them. */
  readonly paused = new Set<string>();
  /** Dedup keys taken by `addTask(..., { dedup })` (dedup.ts). */
  readonly dedup = new DedupKeys();
  /** Rate limits and global concurrency of the apps on this backend (limiter.ts). */
  readonly limiter = new MemoryLimiter();
  /** Reservations not yet confirmed published (Storage.reservePublish): id -> deadline, epoch ms. */
  readonly publishing = new Map<string, number>();
  /** Per workflow group, the members that ended (Storage.join, storage-join.ts). */
  readonly joins = new JoinSets();
  /** Cross-app listeners of this backend: events, and cancel requests for running tasks. */
  readonly eventListeners = new Set<(event: TaskEvent) => void>();
  readonly cancelListeners = new Set<(id: string, reason: string) => void>();
  #seq = 0;
  #pumpScheduled = false;
  #delayTimer: LongTimer | undefined;
  #delayAt = Infinity;

  /** Queues a message now or after `delayMs`; `deliveries` is how often it was delivered before, `lost` how many of those were lost. */
  enqueue(message: TaskMessage, delayMs: number, deliveries = 0, announce = true, lost = 0): void {
    const seq = this.#seq++;
    const delayed = delayMs > 0;
    this.live.put(message, seq, deliveries, delayed, lost);
    if (announce && deliveries === 0) this.emit(delayed ? 'delayed' : 'added', message, 0);
    if (delayed) {
      const at = Date.now() + delayMs;
      this.#delayed.push({ message, at, seq, deliveries, lost });
      this.#armDelay();
      return;
    }
    let heap = this.#queues.get(message.queue);
    if (heap === undefined) {
      heap = new Heap(byPriority);
      this.#queues.set(message.queue, heap);
    }
    heap.push({ message, seq, deliveries, lost });
    this.#schedulePump();
  }

  addConsumer(consumer: MemoryConsumer): void {
    this.#consumers.add(consumer);
    this.#schedulePump();
  }

  removeConsumer(consumer: MemoryConsumer): void {
    this.#consumers.delete(consumer);
  }

  /** A delivery was settled or given back: its consumer has room again. */
  released(consumer: MemoryConsumer): void {
    consumer.unsettled--;
    this.#schedulePump();
  }

  /** A delivery ended (acked, dead-lettered) or is about to be queued again: it is no longer live. */
  finished(id: string): void {
    this.live.drop(id);
  }

  /** Takes a queued or delayed task out of its queue (a tombstone: the heap skips it later). */
  unqueue(id: string): LiveTask | undefined {
    const task = this.live.get(id);
    if (task === undefined || task.state === 'running') return undefined;
    this.live.drop(id);
    return task;
  }

  /** Sends a delayed task to its ready queue now. */
  promote(id: string): boolean {
    const task = this.live.get(id);
    if (task === undefined || !task.delayed) return false;
    this.enqueue(task.message, 0, task.deliveries, false, task.lost);
    return true;
  }

  setPaused(queue: string, paused: boolean): void {
    if (paused) this.paused.add(queue);
    else if (this.paused.delete(queue)) this.#schedulePump();
  }

  /** Emits an event to this backend's listeners, after the current step (a throwing listener cannot touch it). */
  emit(type: TaskEvent['type'], message: { id: string; name: string; queue: string }, attempt: number, extra?: { progress?: unknown; message?: string }): void {
    if (this.eventListeners.size === 0) return;
    const event: TaskEvent = { type, id: message.id, name: message.name, queue: message.queue, attempt, at: Date.now(), ...extra };
    for (const listener of this.eventListeners) queueMicrotask(() => listener(event));
  }

  /** Asks every consumer of this backend to cancel running task `id`. */
  requestCancel(id: string, reason: string): void {
    for (const listener of this.cancelListeners) queueMicrotask(() => listener(id, reason));
  }

  addDeadLetter(letter: DeadLetter): void {
    this.#dead.unshift(letter);
    if (this.#dead.length > 10_000) this.#dead.length = 10_000;
  }

  deadLetters(limit: number): DeadLetter[] {
    return this.#dead.slice(0, limit);
  }

  // --- records ---

  getRecord(id: string): TaskRecord | undefined {
    const stored = this.#records.get(id);
    if (stored === undefined) return undefined;
    if (stored.expiresAt <= Date.now()) {
      this.deleteRecord(id);
      return undefined;
    }
    return stored.record;
  }

  deleteRecord(id: string): boolean {
    const stored = this.#records.get(id);
    if (stored === undefined) return false;
    this.#records.delete(id);
    this.index.remove(stored.record);
    return true;
  }

  /** Writes a record without the attempts fence (a retry starts its count afresh). */
  replaceRecord(record: TaskRecord): void {
    this.deleteRecord(record.id);
    this.saveRecord(record, Infinity);
  }

  /** Keeps at most `keep` records of `status` in `queue` (retention by count): drops the oldest. */
  trimRecords(queue: string, status: TaskRecord['status'], keep: number): void {
    for (const id of this.index.oldest(queue, status, this.index.size(queue, status) - keep)) this.deleteRecord(id);
  }

  /** Fenced write: refused when the stored record has more attempts. */
  saveRecord(record: TaskRecord, ttlMs: number): boolean {
    const current = this.#records.get(record.id);
    if (current !== undefined && current.record.attempts > record.attempts) return false;
    const final = isFinal(record.status);
    const expiresAt = final ? Date.now() + ttlMs : Infinity;
    if (current !== undefined) {
      this.index.move(current.record, record);
      current.record = record;
      current.expiresAt = expiresAt;
    } else {
      this.index.add(record);
      this.#records.set(record.id, { record, expiresAt });
    }
    if (final) {
      if (Number.isFinite(ttlMs)) {
        let fifo = this.#expiries.get(ttlMs);
        if (fifo === undefined) this.#expiries.set(ttlMs, (fifo = { ids: [], head: 0 }));
        fifo.ids.push(record.id);
        this.#sweep(fifo);
      }
      this.#waiters.wake(record);
    }
    return true;
  }

  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    const now = this.getRecord(id);
    if (now !== undefined && isFinal(now.status)) return Promise.resolve(now);
    return this.#waiters.wait(id, timeoutMs).result;
  }

  // Runs on each final write (no timer): drops the expired heads of this TTL's FIFO. Reads
  // check expiry themselves, so a record is never served late, only freed late.
  #sweep(fifo: { ids: string[]; head: number }): void {
    const now = Date.now();
    while (fifo.head < fifo.ids.length) {
      const id = fifo.ids[fifo.head] as string;
      const stored = this.#records.get(id);
      if (stored !== undefined && stored.expiresAt > now) break;
      if (stored !== undefined) this.deleteRecord(id);
      fifo.head++;
    }
    if (fifo.head > 1024 && fifo.head * 2 > fifo.ids.length) {
      fifo.ids = fifo.ids.slice(fifo.head);
      fifo.head = 0;
    }
  }

  // --- dispatch ---

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    let served: MemoryConsumer[] | undefined;
    for (const consumer of this.#consumers) {
      const queues = this.paused.size === 0 ? consumer.queues : this.paused.has('*') ? [] : consumer.queues.filter((q) => !this.paused.has(q));
      let n = 0;
      while (!consumer.paused && consumer.unsettled < consumer.concurrency) {
        const next = this.#take(queues);
        if (next === undefined) break;
        consumer.unsettled++;
        n++;
        this.live.running(next.message.id);
        this.emit('active', next.message, next.deliveries + 1);
        consumer.deliver(next.message, next.deliveries + 1, next.lost);
      }
      if (n > 0) (served ??= []).push(consumer);
    }
    // Consumers that were served go to the back: the next message goes to another one first, as
    // a networked broker would spread it (and a task one worker gave back reaches another).
    if (served !== undefined && this.#consumers.size > 1) {
      for (const c of served) {
        this.#consumers.delete(c);
        this.#consumers.add(c);
      }
    }
  }

  #take(queues: readonly string[]): Ready | undefined {
    for (;;) {
      const next = this.#pop(queues);
      // cancelled, purged or promoted meanwhile (a newer entry exists): skip the stale entry
      if (next === undefined || this.live.current(next.message.id, next.seq)) return next;
    }
  }

  #pop(queues: readonly string[]): Ready | undefined {
    let best: Heap<Ready> | undefined;
    for (const q of queues) {
      const heap = this.#queues.get(q);
      const head = heap?.peek();
      if (head === undefined) continue;
      const bestHead = best?.peek();
      if (bestHead === undefined || byPriority(head, bestHead)) best = heap;
    }
    return best?.pop();
  }

  #armDelay(): void {
    const next = this.#delayed.peek();
    if (next === undefined || next.at >= this.#delayAt) return;
    this.#delayTimer?.cancel();
    this.#delayAt = next.at;
    // A long delay is one chained timer, not a 1 ms timer re-armed in a loop (Node caps at 2^31-1 ms).
    this.#delayTimer = setLongTimeout(() => this.#promote(), Math.max(0, next.at - Date.now())).unref();
  }

  #promote(): void {
    this.#delayTimer = undefined;
    this.#delayAt = Infinity;
    const now = Date.now();
    for (let top = this.#delayed.peek(); top !== undefined && top.at <= now; top = this.#delayed.peek()) {
      this.#delayed.pop();
      if (this.live.current(top.message.id, top.seq)) this.enqueue(top.message, 0, top.deliveries, false, top.lost);
    }
    this.#armDelay();
  }
}
