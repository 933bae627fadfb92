/**
 * The memory broker: same semantics as the networked ones (priorities, delays, leases,
 * redelivery, dead letters) inside one process. A lease lasts while the broker that took the
 * delivery runs; when it stops with deliveries unsettled, they return after config.leaseMs.
 */
import type { Broker, ComponentContext, ConsumeOptions, Control, DeadLetter, Delivery, PublishOptions, PublishOutcome, Retention, SaveOptions, Storage, TaskEventType } from '../../core/contracts.js';
import { ConnectionClosedError } from '../../core/errors.js';
import { TaskStatus, recordOf, validateMessage, type TaskMessage, type TaskRecord } from '../../core/record.js';
import type { MemoryBackend, MemoryConsumer } from './backend.js';
import { MemoryControl } from './control.js';
import { admit } from './dedup.js';

const FINAL_EVENT: Partial<Record<TaskRecord['status'], TaskEventType>> = { success: 'completed', error: 'failed', cancel: 'cancelled', dead: 'dead' };

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  readonly records: Storage | undefined;
  readonly control: Control;
  readonly #backend: MemoryBackend;
  readonly #retention: Retention;
  readonly #owned = new Set<Delivery>();
  #consumer: MemoryConsumer | undefined;
  #ctx: ComponentContext | undefined;
  #stopped = false;

  constructor(backend: MemoryBackend, records?: Storage, retention: Retention = {}) {
    this.#backend = backend;
    this.records = records;
    this.#retention = retention;
    this.control = new MemoryControl(backend, records !== undefined);
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
    (this.control as MemoryControl).start(ctx);
  }

  async publish(message: TaskMessage, options: PublishOptions): Promise<void | PublishOutcome> {
    if (this.#stopped) throw new ConnectionClosedError('memory broker');
    // A copy, as a networked broker would hand the worker: later changes by the caller do not
    // leak in. Primitive arguments (the common case) only need a new array.
    const copy: TaskMessage = { ...message, args: copyArgs(message.args), ...(message.meta !== undefined ? { meta: structuredClone(message.meta) } : {}) };
    if (options.unique === true || options.dedup !== undefined) {
      const existing = admit(this.#backend, copy, options.record, options.delayMs, options.unique === true, options.dedup, this.records !== undefined);
      if (existing !== undefined) return { existing };
    }
    if (this.records !== undefined) this.#backend.saveRecord(options.record, Infinity);
    this.#backend.enqueue(copy, options.delayMs);
  }

  async consume(options: ConsumeOptions): Promise<void> {
    const backend = this.#backend;
    const consumer: MemoryConsumer = {
      queues: [...options.queues],
      concurrency: options.concurrency,
      unsettled: 0,
      paused: false,
      deliver: (message, attempt, lost) => {
        const malformed = validateMessage(message);
        if (malformed !== undefined) {
          const id = (message as { id?: unknown }).id;
          backend.addDeadLetter({ ...(typeof id === 'string' ? { id } : {}), reason: `malformed message: ${malformed}`, payload: safeText(message) });
          if (typeof id === 'string') backend.finished(id);
          this.#ctx?.logger.error({ reason: malformed }, 'malformed message dead-lettered');
          backend.released(consumer);
          return;
        }
        const delivery: Delivery = lost > 0 ? { message, attempt, lost } : { message, attempt };
        this.#owned.add(delivery);
        // A delivery after a loss leaves the record alone: the worker writes `process` with its
        // suspicion mark when it starts it, and must first read the mark the lost attempt left.
        if (this.records !== undefined && lost === 0) {
          const now = Date.now();
          backend.saveRecord(recordOf(message, TaskStatus.PROCESS, attempt, now, { startedAt: now }), Infinity);
        }
        options.onDelivery(delivery);
      },
    };
    this.#consumer = consumer;
    backend.addConsumer(consumer);
  }

  async pause(): Promise<void> {
    if (this.#consumer !== undefined) this.#consumer.paused = true;
  }

  async ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    this.#finish(delivery, record, options);
    return true;
  }

  async retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    if (this.records !== undefined) this.#backend.saveRecord(record, Infinity);
    this.#backend.enqueue(delivery.message, delayMs, delivery.attempt, true, delivery.lost);
    this.#backend.emit('retrying', record, delivery.attempt, record.error !== undefined ? { message: record.error.message } : undefined);
    return true;
  }

  async release(delivery: Delivery, delayMs: number): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    this.#backend.enqueue(delivery.message, delayMs, delivery.attempt - 1, false, delivery.lost);
    return true;
  }

  async deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    this.#backend.addDeadLetter({ id: record.id, reason: record.reason ?? 'dead-lettered', payload: JSON.stringify(delivery.message) });
    this.#finish(delivery, record, options);
    return true;
  }

  /** The task left the queue with `record`: store it, announce it, apply retention. */
  #finish(delivery: Delivery, record: TaskRecord, options: SaveOptions): void {
    const backend = this.#backend;
    backend.finished(record.id);
    if (this.records !== undefined) {
      backend.saveRecord(record, options.ttlMs);
      const keep = this.#retention[record.status as keyof Retention];
      if (keep !== undefined) backend.trimRecords(record.queue, record.status, keep);
    }
    const type = FINAL_EVENT[record.status];
    if (type !== undefined) backend.emit(type, record, delivery.attempt, record.error !== undefined || record.reason !== undefined ? { message: record.reason ?? record.error?.message } : undefined);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.#backend.deadLetters(limit);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    this.#backend.removeConsumer(consumer);
    const abandoned = [...this.#owned];
    this.#owned.clear();
    if (abandoned.length === 0) return;
    // What this broker still held was never settled: like an expired lease, it goes back to the queue.
    const timer = setTimeout(() => {
      for (const d of abandoned) this.#backend.enqueue(d.message, 0, d.attempt, true, (d.lost ?? 0) + 1);
    }, this.#ctx?.config.leaseMs ?? 0);
    timer.unref();
  }

  #settle(delivery: Delivery): boolean {
    if (!this.#owned.delete(delivery)) return false;
    if (this.#consumer !== undefined) this.#backend.released(this.#consumer);
    return true;
  }
}

function safeText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function copyArgs(args: readonly unknown[]): unknown[] {
  for (const a of args) if (a !== null && typeof a === 'object') return JSON.parse(JSON.stringify(args)) as unknown[];
  return args.slice();
}
