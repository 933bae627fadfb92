/**
 * The Redis broker. Publishing is one script call (record `new` + ready or delayed entry + wake-up
 * marker); consuming is the Consumer loop. With `records` (the plugin is also the storage), every
 * record write happens inside the same scripts, fenced by the delivery's lease.
 */
import type { Broker, ComponentContext, ConsumeOptions, DeadLetter, Delivery, PublishOptions, SaveOptions, Storage } from '../../core/contracts.js';
import { ConnectionClosedError, ErrorCodes, QTasksError } from '../../core/errors.js';
import type { TaskMessage, TaskRecord } from '../../core/record.js';
import type { RedisConnection } from './connection.js';
import { Consumer } from './consumer.js';

export interface RedisBrokerSettings {
  /** Longest single blocking wait of an idle worker, ms. */
  readonly blockMs: number;
}

export class RedisBroker implements Broker {
  readonly name = 'redis';
  readonly records: Storage | undefined;
  readonly #conn: RedisConnection;
  readonly #settings: RedisBrokerSettings;
  #ctx: ComponentContext | undefined;
  #consumer: Consumer | undefined;
  #started = false;

  constructor(conn: RedisConnection, settings: RedisBrokerSettings, records?: Storage) {
    this.#conn = conn;
    this.#settings = settings;
    this.records = records;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
    await this.#conn.acquire(ctx);
    this.#started = true;
  }

  async publish(message: TaskMessage, options: PublishOptions): Promise<void> {
    if (!this.#started) throw new ConnectionClosedError('redis broker');
    const keys = this.#conn.keys;
    await this.#conn.run(
      'qtasksEnqueue',
      keys.job(message.id),
      keys.base,
      message.id,
      message.queue,
      message.priority,
      JSON.stringify(message),
      this.records !== undefined ? JSON.stringify(options.record) : '',
      Math.max(0, Math.round(options.delayMs)),
    );
  }

  async consume(options: ConsumeOptions): Promise<void> {
    if (!this.#started || this.#ctx === undefined) throw new ConnectionClosedError('redis broker');
    if (this.#consumer !== undefined) throw new QTasksError(ErrorCodes.UNSUPPORTED, 'redis broker: consume() was already called');
    if (options.queues.length === 0) throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis broker: consume() needs at least one queue');
    const consumer = new Consumer(this.#conn, options, { leaseMs: this.#ctx.config.leaseMs, blockMs: this.#settings.blockMs }, this.#ctx.logger);
    this.#consumer = consumer;
    await consumer.start();
  }

  async pause(): Promise<void> {
    this.#consumer?.pause();
  }

  ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#settle('a', delivery, record, options.ttlMs);
  }

  retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean> {
    return this.#settle('r', delivery, record, Math.max(0, Math.round(delayMs)));
  }

  deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#settle('d', delivery, record, options.ttlMs, record.reason ?? 'dead-lettered');
  }

  #settle(kind: 'a' | 'r' | 'd', delivery: Delivery, record: TaskRecord, num: number, extra?: string): Promise<boolean> {
    if (this.#consumer === undefined) return Promise.resolve(false);
    const json = this.records !== undefined ? JSON.stringify(record) : '';
    return this.#consumer.settle(kind, delivery, json, num, extra);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const rows = await this.#conn.client.lrange(this.#conn.keys.dead, 0, Math.max(0, limit - 1));
    return rows.map(parseDeadLetter);
  }

  async stop(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    try {
      if (consumer !== undefined) await consumer.stop();
    } finally {
      if (this.#started) {
        this.#started = false;
        await this.#conn.release();
      }
      // Fused: the kernel leaves the records' lifecycle to the broker.
      await this.records?.stop();
    }
  }
}

function parseDeadLetter(row: string): DeadLetter {
  try {
    const v = JSON.parse(row) as { id?: unknown; reason?: unknown; payload?: unknown };
    return {
      ...(typeof v.id === 'string' && v.id !== '' ? { id: v.id } : {}),
      reason: typeof v.reason === 'string' ? v.reason : 'dead-lettered',
      payload: typeof v.payload === 'string' ? v.payload : JSON.stringify(v.payload ?? null),
    };
  } catch {
    return { reason: 'unreadable dead-letter entry', payload: row };
  }
}
