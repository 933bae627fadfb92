/**
 * The contracts a broker, storage or global-config plugin implements. A plugin supplies its
 * implementation through `hooks.broker.provide` / `hooks.storage.provide` /
 * `hooks.storage.provideGlobalConfig`; the kernel calls these methods and nothing else.
 * `qtasks/testing` checks an implementation against them.
 */
import type { Config } from './config.js';
import type { LoggerLike } from './logger.js';
import type { TaskMessage, TaskRecord } from './record.js';

/** What the kernel hands a component when the app starts. */
export interface ComponentContext {
  /** The app's name; the namespace for keys, queues and channels. */
  readonly appName: string;
  readonly config: Readonly<Config>;
  readonly logger: LoggerLike;
}

/** One delivery of a message to this worker. */
export interface Delivery {
  readonly message: TaskMessage;
  /** 1-based count of deliveries of this message, this one included (crash redeliveries count). */
  readonly attempt: number;
}

export interface PublishOptions {
  /** Do not deliver before this many ms from now (0: now). */
  readonly delayMs: number;
  /** The record in status `new`; a broker with `records` stores it atomically with the message. */
  readonly record: TaskRecord;
  /** The caller will wait for the outcome (addTask with a timeout): a broker without storage may arrange a reply. */
  readonly awaitsResult: boolean;
}

export interface ConsumeOptions {
  readonly queues: readonly string[];
  /** The broker never has more than this many unsettled deliveries at once for this consumer. */
  readonly concurrency: number;
  /** Called once per delivery; the kernel settles it later with ack, retry or deadLetter. */
  readonly onDelivery: (delivery: Delivery) => void;
}

/** A message the broker could not turn into a task, kept with the reason. */
export interface DeadLetter {
  readonly id?: string;
  readonly reason: string;
  /** The raw payload, as text. */
  readonly payload: string;
}

export interface Broker {
  readonly name: string;
  /**
   * The storage this broker keeps in step atomically (set by a plugin that is both broker and
   * storage). When it is the app's storage, the kernel does not write records itself: the
   * broker stores `new` on publish, `process` on delivery, and the outcome on settle.
   */
  readonly records?: Storage;
  /** Connect. Called once, before any other method. */
  start(ctx: ComponentContext): Promise<void>;
  /** Resolves once the broker has the message durably (confirmed), never before. */
  publish(message: TaskMessage, options: PublishOptions): Promise<void>;
  /**
   * Start delivering messages from `queues`: lower priority first, FIFO within a priority,
   * delayed messages not before their time, redelivery of deliveries whose worker vanished.
   */
  consume(options: ConsumeOptions): Promise<void>;
  /** Stop delivering new messages. Unsettled deliveries can still be settled. */
  pause(): Promise<void>;
  /**
   * The task has its outcome (`record` is final): remove it from the queue (a broker with
   * `records` stores the record in the same step, fenced by the lease). Returns false if this
   * delivery no longer owns the task (its lease expired and another delivery took it). Resolved
   * or rejected, the delivery no longer counts toward the consumer's concurrency.
   */
  ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean>;
  /** Deliver again after `delayMs`; `record` is in status `retry`. */
  retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean>;
  /** Move to the dead letters; `record` is in status `dead` with a reason. */
  deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean>;
  /** Malformed messages and dead-lettered tasks, newest first. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Release connections it owns. Unsettled deliveries return to the queue (now or at lease expiry). */
  stop(): Promise<void>;
}

export interface SaveOptions {
  /** For a final record: how long storage keeps it. */
  readonly ttlMs: number;
}

export interface Storage {
  readonly name: string;
  start(ctx: ComponentContext): Promise<void>;
  /**
   * Create or replace a record. Fenced: when the stored record has more `attempts` than
   * `record.attempts`, nothing is written and false is returned (a stale worker lost its lease).
   * A final record is kept for `ttlMs` and wakes `waitFinal` callers.
   */
  save(record: TaskRecord, options: SaveOptions): Promise<boolean>;
  get(id: string): Promise<TaskRecord | undefined>;
  /**
   * Resolves with the record once it is final, or undefined after `timeoutMs`. Event driven
   * (a notification or a blocking read), never a polling loop.
   */
  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined>;
  /**
   * Optional: resolves once a `waitFinal` begun from now on sees its record become final however
   * soon that happens (Redis: its subscription is live). `addTask(..., { timeout })` awaits it,
   * then starts waiting, then publishes; a storage whose waitFinal registers synchronously needs none.
   */
  prepareWait?(): Promise<void>;
  stop(): Promise<void>;
}

/** Liveness and a small shared key-value store for an app (QTasks' GlobalConfig). */
export interface GlobalConfig {
  readonly name: string;
  start(ctx: ComponentContext): Promise<void>;
  set(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Records that worker `workerId` of this app is alive for `ttlMs`. */
  heartbeat(workerId: string, ttlMs: number): Promise<void>;
  /** Whether some worker of this app has a live heartbeat. */
  alive(): Promise<boolean>;
  stop(): Promise<void>;
}
