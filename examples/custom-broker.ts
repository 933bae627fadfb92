/**
 * A broker plugin written from scratch: the teaching example of docs/writing-a-broker-plugin.md,
 * in the shape a real one must have.
 *
 * The `ArrayStore` plays the server: waiting messages in plain arrays, and a lease per delivery.
 * Apps given the same store share one set of queues, the way a producer and its workers share a
 * server. The broker has no `records`, so the kernel writes task records to the app's storage;
 * pair it with `memory({ broker: false })`:
 *
 *   const store = new ArrayStore();
 *   const app = new QueueTasks({ name: 'shop', plugins: [arrayBroker({ store }), memory({ broker: false })] });
 *
 * The safe design, which the conformance suite checks (test/examples/custom-broker.test.ts):
 * - a delivery holds a time-based lease on the server, renewed while its worker lives; a lease
 *   that expires returns its message to the queue, whoever notices first (no reliance on a
 *   `stop()` that a SIGKILL or an out-of-memory kill never runs);
 * - every lease has its own token, and settling needs it (fencing): a worker whose lease was
 *   taken over cannot ack or retry over the newer delivery;
 * - an idle worker sleeps until the next due time (a delayed message or a lease expiry) or a
 *   publish, never polls, and never hands Node a timer longer than it can hold.
 * It scans arrays instead of keeping heaps, so it is meant for reading, not for a million tasks.
 */
import { ConnectionClosedError, definePlugin, validateMessage } from '../core/index.js';
import type { Broker, ComponentContext, ConsumeOptions, DeadLetter, Delivery, Plugin } from '../core/index.js';
import type { PublishOptions, SaveOptions, TaskMessage, TaskRecord } from '../core/index.js';

export const PLUGIN_NAME = 'array-broker';

/** Node fires a longer timer after 1 ms; a longer wait is a chain of these. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  /** How many of those deliveries were lost (their lease expired unsettled): `Delivery.lost`. */
  readonly lost: number;
}

/** A delivery in progress on the "server": its entry comes back if `expiresAt` passes. */
interface Lease {
  readonly entry: Entry;
  expiresAt: number;
}

/** The shared "server": waiting messages, leases, dead letters, and the brokers to wake. */
export class ArrayStore {
  readonly entries: Entry[] = [];
  /** Newest first. */
  readonly deadLetters: DeadLetter[] = [];
  /** By token: unique per delivery, so a stale worker's token finds nothing. */
  readonly #leases = new Map<number, Lease>();
  readonly #listeners = new Set<() => void>();
  #seq = 0;
  #token = 0;

  put(queue: string, payload: string, priority: number, delayMs = 0, deliveries = 0, lost = 0): void {
    this.entries.push({ queue, payload, priority, seq: this.#seq++, readyAt: Date.now() + delayMs, deliveries, lost });
    for (const wake of this.#listeners) wake();
  }

  /**
   * Returns expired leases to the queue, then takes the best ready entry of `queues` under a new
   * lease of `leaseMs`; or reports when something next falls due (a delay or a lease expiry).
   */
  take(queues: readonly string[], leaseMs: number): { entry?: Entry; token?: number; nextAt: number } {
    const now = Date.now();
    for (const [token, lease] of this.#leases) {
      if (lease.expiresAt > now) continue;
      this.#leases.delete(token);
      // Its worker went away without settling it: that delivery was lost.
      this.entries.push({ ...lease.entry, seq: this.#seq++, readyAt: now, lost: lease.entry.lost + 1 });
    }
    let best = -1;
    let nextAt = Infinity;
    this.entries.forEach((e, i) => {
      if (!queues.includes(e.queue)) return;
      if (e.readyAt > now) nextAt = Math.min(nextAt, e.readyAt);
      else if (best < 0 || isBefore(e, this.entries[best]!)) best = i;
    });
    for (const lease of this.#leases.values()) nextAt = Math.min(nextAt, lease.expiresAt);
    if (best < 0) return { nextAt };
    const taken = this.entries.splice(best, 1)[0]!;
    // The lease holds the entry as the next delivery will see it: one more delivery counted.
    const entry = { ...taken, deliveries: taken.deliveries + 1 };
    const token = ++this.#token;
    this.#leases.set(token, { entry, expiresAt: now + leaseMs });
    return { entry, token, nextAt };
  }

  /** Extends the leases that are still these tokens'; a lease already taken over stays gone. */
  renew(tokens: Iterable<number>, leaseMs: number): void {
    const until = Date.now() + leaseMs;
    for (const token of tokens) {
      const lease = this.#leases.get(token);
      if (lease !== undefined) lease.expiresAt = until;
    }
  }

  /** Ends a lease: true only for the delivery that still holds it (the fence). */
  release(token: number): boolean {
    return this.#leases.delete(token);
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

/** One app's broker over a store. The deliveries it holds map to their lease tokens. */
export class ArrayBroker implements Broker {
  readonly name = 'array';
  readonly #store: ArrayStore;
  readonly #held = new Map<Delivery, number>();
  #leaseMs = 30_000;
  #ctx: ComponentContext | undefined;
  #consume: ConsumeOptions | undefined;
  #unlisten: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #paused = false;
  #stopped = false;
  #pumpQueued = false;

  constructor(store: ArrayStore) {
    this.#store = store;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
    this.#leaseMs = ctx.config.leaseMs;
  }

  async publish(message: TaskMessage, options: PublishOptions): Promise<void> {
    if (this.#stopped) throw new ConnectionClosedError(`${PLUGIN_NAME} publish`);
    // In the store means durable for this broker: a networked one resolves only once the server confirmed.
    this.#store.put(message.queue, JSON.stringify(message), message.priority, options.delayMs);
  }

  async consume(options: ConsumeOptions): Promise<void> {
    this.#consume = options;
    this.#unlisten = this.#store.listen(() => this.#schedulePump());
    // Renewal is the broker's job: a third of the lease, so one late tick does not lose it.
    this.#renewTimer = setInterval(() => this.#store.renew(this.#held.values(), this.#leaseMs), Math.max(10, this.#leaseMs / 3));
    this.#renewTimer.unref();
    this.#schedulePump();
  }

  async pause(): Promise<void> {
    // No new deliveries; held ones stay ours (and renewed) while the worker drains them.
    this.#paused = true;
  }

  async ack(delivery: Delivery, _record: TaskRecord, _options: SaveOptions): Promise<boolean> {
    // The message left the queue when it was taken; ending the lease is all that is left.
    return this.#settle(delivery);
  }

  async retry(delivery: Delivery, _record: TaskRecord, delayMs: number): Promise<boolean> {
    if (!this.#settle(delivery)) return false;
    const m = delivery.message;
    this.#store.put(m.queue, JSON.stringify(m), m.priority, delayMs, delivery.attempt, delivery.lost);
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
    // Nothing is given back here: held deliveries return when their leases expire, exactly as
    // they would if this process had been killed (a handler abandoned at stop may still run).
    this.#stopped = true;
    this.#unlisten?.();
    clearTimeout(this.#timer);
    clearInterval(this.#renewTimer);
    this.#held.clear();
  }

  /** False when this delivery no longer holds its lease (taken over, settled twice, or stopped). */
  #settle(delivery: Delivery): boolean {
    const token = this.#held.get(delivery);
    if (token === undefined) return false;
    this.#held.delete(delivery);
    this.#schedulePump(); // room for one more
    return this.#store.release(token);
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
    if (options === undefined || this.#stopped) return;
    let nextAt = Infinity;
    while (!this.#paused && this.#held.size < options.concurrency) {
      const taken = this.#store.take(options.queues, this.#leaseMs);
      nextAt = taken.nextAt;
      if (taken.entry === undefined || taken.token === undefined) break;
      const message = this.#decode(taken.entry, taken.token);
      if (message === undefined) continue; // dead-lettered; it never held a concurrency slot
      const delivery: Delivery = { message, attempt: taken.entry.deliveries, lost: taken.entry.lost };
      this.#held.set(delivery, taken.token);
      options.onDelivery(delivery);
    }
    this.#wakeAt(nextAt);
  }

  /**
   * Idle workers do not poll: one timer for the next due time (a delayed message, or a lease
   * that may expire and must be picked up without a publish); publishes wake us too.
   */
  #wakeAt(at: number): void {
    clearTimeout(this.#timer);
    if (at === Infinity) return;
    this.#timer = setTimeout(() => this.#schedulePump(), Math.min(MAX_TIMER_MS, Math.max(1, at - Date.now())));
    this.#timer.unref();
  }

  /** Parses and checks a payload; a bad one goes to the dead letters with its reason. */
  #decode(entry: Entry, token: number): TaskMessage | undefined {
    let value: unknown;
    let reason: string | undefined;
    try {
      value = JSON.parse(entry.payload);
      reason = validateMessage(value);
    } catch {
      reason = 'payload is not JSON';
    }
    if (reason === undefined) return value as TaskMessage;
    this.#store.release(token);
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
