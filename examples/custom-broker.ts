/**
 * A broker plugin written from scratch: the teaching example of docs/writing-a-broker-plugin.md.
 *
 * Messages live in plain arrays inside an `ArrayStore`. Apps given the same store share one set
 * of queues, the way a producer and its workers share a server. The broker has no `records`, so
 * the kernel writes task records to the app's storage; pair it with `memory({ broker: false })`:
 *
 *   const store = new ArrayStore();
 *   const app = new QueueTasks({ name: 'shop', plugins: [arrayBroker({ store }), memory({ broker: false })] });
 *
 * It passes the broker conformance suite (test/examples/custom-broker.test.ts). It scans arrays
 * instead of keeping heaps, so it is meant for reading, not for a million tasks.
 */
import { ConnectionClosedError, definePlugin, validateMessage } from '../core/index.js';
import type { Broker, ComponentContext, ConsumeOptions, DeadLetter, Delivery, Plugin } from '../core/index.js';
import type { PublishOptions, SaveOptions, TaskMessage, TaskRecord } from '../core/index.js';

export const PLUGIN_NAME = 'array-broker';

/** A waiting message. The payload is JSON text, as it would be on a wire. */
interface Entry {
  readonly queue: string;
  readonly payload: string;
  readonly priority: number;
  /** Publication order: FIFO within a priority. */
  readonly seq: number;
  /** Not deliverable before this time (epoch ms): delays and retry backoff. */
  readonly readyAt: number;
  /** How often it was delivered before; the next delivery's attempt is this + 1. */
  readonly deliveries: number;
}

/** The shared "server": waiting messages, dead letters, and the brokers to wake on a publish. */
export class ArrayStore {
  readonly entries: Entry[] = [];
  /** Newest first. */
  readonly deadLetters: DeadLetter[] = [];
  readonly #listeners = new Set<() => void>();
  #seq = 0;

  put(queue: string, payload: string, priority: number, delayMs = 0, deliveries = 0): void {
    this.entries.push({ queue, payload, priority, seq: this.#seq++, readyAt: Date.now() + delayMs, deliveries });
    for (const wake of this.#listeners) wake();
  }

  /** Removes and returns the best ready entry of `queues`, or reports when the next one is due. */
  take(queues: readonly string[]): { entry?: Entry; nextAt: number } {
    const now = Date.now();
    let best = -1;
    let nextAt = Infinity;
    this.entries.forEach((e, i) => {
      if (!queues.includes(e.queue)) return;
      if (e.readyAt > now) nextAt = Math.min(nextAt, e.readyAt);
      else if (best < 0 || isBefore(e, this.entries[best]!)) best = i;
    });
    return best < 0 ? { nextAt } : { entry: this.entries.splice(best, 1)[0]!, nextAt };
  }

  listen(wake: () => void): () => void {
    this.#listeners.add(wake);
    return () => this.#listeners.delete(wake);
  }
}

/** Lower priority first; the older message first within a priority. */
function isBefore(a: Entry, b: Entry): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
}

/** One app's broker over a store. Deliveries it handed out and that are not settled yet are its leases. */
export class ArrayBroker implements Broker {
  readonly name = 'array';
  readonly #store: ArrayStore;
  readonly #unsettled = new Set<Delivery>();
  #ctx: ComponentContext | undefined;
  #consume: ConsumeOptions | undefined;
  #unlisten: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  #stopped = false;
  #pumpQueued = false;

  constructor(store: ArrayStore) {
    this.#store = store;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
  }

  async publish(message: TaskMessage, options: PublishOptions): Promise<void> {
    if (this.#stopped) throw new ConnectionClosedError(`${PLUGIN_NAME} publish`);
    // Once it is in the store it is "durable" for this broker, so resolving now keeps the contract.
    this.#store.put(message.queue, JSON.stringify(message), message.priority, options.delayMs);
  }

  async consume(options: ConsumeOptions): Promise<void> {
    this.#consume = options;
    this.#unlisten = this.#store.listen(() => this.#schedulePump());
    this.#schedulePump();
  }

  async pause(): Promise<void> {
    // Unsettled deliveries stay ours: the worker may still ack them while it drains.
    this.#paused = true;
  }

  async ack(delivery: Delivery, _record: TaskRecord, _options: SaveOptions): Promise<boolean> {
    // The message was removed from the store when it was taken; settling ends the lease.
    return this.#settle(delivery);
  }

  async retry(delivery: Delivery, _record: TaskRecord, delayMs: number): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    const m = delivery.message;
    this.#store.put(m.queue, JSON.stringify(m), m.priority, delayMs, delivery.attempt);
    return true;
  }

  async deadLetter(delivery: Delivery, record: TaskRecord, _options: SaveOptions): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    this.#store.deadLetters.unshift({ id: record.id, reason: record.reason ?? 'dead-lettered', payload: JSON.stringify(delivery.message) });
    return true;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.#store.deadLetters.slice(0, limit);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    clearTimeout(this.#timer);
    // Whatever is still unsettled belongs to a worker that is gone. Like an expired lease, it
    // returns to the queue after leaseMs, and its delivery count goes with it.
    const abandoned = [...this.#unsettled];
    this.#unsettled.clear();
    if (abandoned.length === 0) return;
    const store = this.#store;
    const giveBack = setTimeout(() => {
      for (const d of abandoned) store.put(d.message.queue, JSON.stringify(d.message), d.message.priority, 0, d.attempt);
    }, this.#ctx?.config.leaseMs ?? 0);
    giveBack.unref(); // an in-process store dies with the process anyway
  }

  /** False when this delivery is no longer ours (settled twice, or the broker stopped). */
  #settle(delivery: Delivery): boolean {
    if (!this.#unsettled.delete(delivery)) return false;
    this.#schedulePump(); // room for one more
    return true;
  }

  // A microtask, so a publish or an ack never delivers from inside the caller's own stack.
  #schedulePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    const options = this.#consume;
    if (options === undefined) return;
    while (!this.#paused && !this.#stopped && this.#unsettled.size < options.concurrency) {
      const { entry, nextAt } = this.#store.take(options.queues);
      if (entry === undefined) {
        this.#wakeAt(nextAt);
        return;
      }
      const message = this.#decode(entry);
      if (message === undefined) continue; // dead-lettered; it never held a concurrency slot
      const delivery: Delivery = { message, attempt: entry.deliveries + 1 };
      this.#unsettled.add(delivery);
      options.onDelivery(delivery);
    }
  }

  /** Idle workers do not poll: one timer for the earliest delayed message, publishes wake us too. */
  #wakeAt(at: number): void {
    clearTimeout(this.#timer);
    if (at === Infinity) return;
    this.#timer = setTimeout(() => this.#schedulePump(), Math.max(1, at - Date.now()));
    this.#timer.unref();
  }

  /** Parses and checks a payload; a bad one goes to the dead letters with its reason. */
  #decode(entry: Entry): TaskMessage | undefined {
    let value: unknown;
    let reason: string | undefined;
    try {
      value = JSON.parse(entry.payload);
      reason = validateMessage(value);
    } catch {
      reason = 'payload is not JSON';
    }
    if (reason === undefined) return value as TaskMessage;
    const id = (value as { id?: unknown } | undefined)?.id;
    this.#store.deadLetters.unshift({ ...(typeof id === 'string' ? { id } : {}), reason: `malformed message: ${reason}`, payload: entry.payload });
    this.#ctx?.logger.error({ reason }, 'malformed message dead-lettered');
    return undefined;
  }
}

export interface ArrayBrokerOptions {
  /** The queues to use. Apps that share a store share queues; default: a store of this app's own. */
  store?: ArrayStore;
}

/** The plugin: one broker per app, over the store the caller passed (never a module-level one). */
export function arrayBroker(options: ArrayBrokerOptions = {}): Plugin {
  return definePlugin({
    name: PLUGIN_NAME,
    apply(app) {
      const broker = new ArrayBroker(options.store ?? new ArrayStore());
      app.hooks.broker.provide.tap(PLUGIN_NAME, () => broker);
    },
  });
}
