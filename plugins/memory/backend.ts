/**
 * The in-process data behind the memory plugin: queues, delays, leases, dead letters, records
 * and the key-value store. Apps that are given the same backend share one queue, which is how
 * tests model a producer and several workers.
 */
import type { DeadLetter } from '../../core/contracts.js';
import { isFinal, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { Waiters } from '../../core/waiters.js';
import { Heap } from './heap.js';

interface Ready {
  readonly message: TaskMessage;
  readonly seq: number;
  /** Deliveries so far; travels with the entry so no per-task map is needed. */
  readonly deliveries: number;
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
  deliver(message: TaskMessage, attempt: number): void;
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
  readonly heartbeats = new Map<string, number>();
  #seq = 0;
  #pumpScheduled = false;
  #delayTimer: NodeJS.Timeout | undefined;
  #delayAt = Infinity;

  /** Queues a message now or after `delayMs`; `deliveries` is how often it was delivered before. */
  enqueue(message: TaskMessage, delayMs: number, deliveries = 0): void {
    const seq = this.#seq++;
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      this.#delayed.push({ message, at, seq, deliveries });
      this.#armDelay();
      return;
    }
    let heap = this.#queues.get(message.queue);
    if (heap === undefined) {
      heap = new Heap(byPriority);
      this.#queues.set(message.queue, heap);
    }
    heap.push({ message, seq, deliveries });
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
      this.#records.delete(id);
      return undefined;
    }
    return stored.record;
  }

  /** Fenced write: refused when the stored record has more attempts. */
  saveRecord(record: TaskRecord, ttlMs: number): boolean {
    const current = this.#records.get(record.id);
    if (current !== undefined && current.record.attempts > record.attempts) return false;
    const final = isFinal(record.status);
    const expiresAt = final ? Date.now() + ttlMs : Infinity;
    if (current !== undefined) {
      current.record = record;
      current.expiresAt = expiresAt;
    } else {
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
      if (stored !== undefined) this.#records.delete(id);
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
    for (const consumer of this.#consumers) {
      while (!consumer.paused && consumer.unsettled < consumer.concurrency) {
        const next = this.#take(consumer.queues);
        if (next === undefined) break;
        consumer.unsettled++;
        consumer.deliver(next.message, next.deliveries + 1);
      }
    }
  }

  #take(queues: readonly string[]): Ready | undefined {
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
    if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
    this.#delayAt = next.at;
    this.#delayTimer = setTimeout(() => this.#promote(), Math.max(0, next.at - Date.now()));
    this.#delayTimer.unref();
  }

  #promote(): void {
    this.#delayTimer = undefined;
    this.#delayAt = Infinity;
    const now = Date.now();
    for (let top = this.#delayed.peek(); top !== undefined && top.at <= now; top = this.#delayed.peek()) {
      this.#delayed.pop();
      this.enqueue(top.message, 0, top.deliveries);
    }
    this.#armDelay();
  }
}
