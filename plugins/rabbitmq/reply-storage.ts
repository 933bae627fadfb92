/**
 * Results over RabbitMQ alone, with direct reply-to (`amq.rabbitmq.reply-to`): the producer's
 * publish channel consumes the pseudo-queue, a message published with `awaitsResult` carries that
 * reply address, and the worker's `save(finalRecord)` publishes the record to it. No queue is
 * declared and nothing is stored on the server.
 *
 * Limits (docs/rabbitmq.md): `get` and `waitFinal` know only what this app instance has seen
 * (records it saved as a worker, replies it received as a producer), kept in a bounded map; a
 * waiter whose publish channel was lost before the reply arrived times out; fencing is local.
 */
import type { ConsumeMessage } from 'amqplib';
import type { ComponentContext, SaveOptions, Storage } from '../../core/contracts.js';
import type { LoggerLike } from '../../core/logger.js';
import { ErrorCodes } from '../../core/errors.js';
import { isFinal, TaskStatus, type TaskRecord } from '../../core/record.js';
import { Waiters } from '../../core/waiters.js';
import { BoundedMap } from './bounded-map.js';
import type { AmqpSession, Link } from './connection.js';

export const REPLY_TO = 'amq.rabbitmq.reply-to';
const TTL_HEADER = 'x-qtasks-ttl';
// What RabbitMQ generates: amq.rabbitmq.reply-to.<base64>.<base64>. A malformed address makes
// RabbitMQ 3.10 close the whole connection (541), so anything else is refused up front.
const REPLY_ADDRESS = /^amq\.rabbitmq\.reply-to\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/;

interface Route {
  readonly replyTo: string;
  readonly correlationId: string;
}

/**
 * Where the final record of a delivered task should be sent. Shared by the broker (which learns
 * the address on delivery) and the storage (which uses it on the final save) of one app.
 */
export class ReplyRoutes {
  /** True once this app's storage is the reply storage: publishes that await a result carry the address. */
  enabled = false;
  // Bounded: deliveries that never reach a final save here (lost lease) must not pile up.
  readonly #routes: BoundedMap<string, Route>;

  constructor(max: number) {
    this.#routes = new BoundedMap(max);
  }

  remember(taskId: string, replyTo: unknown, correlationId: unknown): void {
    if (typeof replyTo !== 'string' || !REPLY_ADDRESS.test(replyTo)) return;
    this.#routes.set(taskId, { replyTo, correlationId: typeof correlationId === 'string' ? correlationId : taskId });
  }

  take(taskId: string): Route | undefined {
    const route = this.#routes.get(taskId);
    if (route !== undefined) this.#routes.delete(taskId);
    return route;
  }
}

interface Kept {
  readonly record: TaskRecord;
  readonly expiresAt: number;
}

export class ReplyStorage implements Storage {
  readonly name = 'rabbitmq-reply';
  readonly #session: AmqpSession;
  readonly #routes: ReplyRoutes;
  /** Oldest write out first: every write re-inserts. */
  readonly #records: BoundedMap<string, Kept>;
  readonly #waiters = new Waiters();
  #log: LoggerLike | undefined;
  #started = false;

  constructor(session: AmqpSession, routes: ReplyRoutes, maxRecords: number) {
    this.#session = session;
    this.#routes = routes;
    this.#records = new BoundedMap(maxRecords);
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#log = ctx.logger;
    await this.#session.acquire(ctx.logger);
    this.#started = true;
    this.#routes.enabled = true;
    // Runs on every link before it is used, so a publish never carries a dead reply address.
    await this.#session.addSetup(this.#setup);
  }

  readonly #setup = async (link: Link): Promise<void> => {
    await link.pub.consume(REPLY_TO, (msg) => this.#onReply(msg), { noAck: true });
  };

  #onReply(msg: ConsumeMessage | null): void {
    if (msg === null) return;
    let record: TaskRecord;
    try {
      record = JSON.parse(msg.content.toString('utf8')) as TaskRecord;
    } catch {
      this.#log?.warn({}, 'rabbitmq reply is not JSON; ignored');
      return;
    }
    if (typeof record?.id !== 'string' || typeof record.status !== 'string') return;
    const ttl = Number(msg.properties.headers?.[TTL_HEADER]);
    // A TTL of 0 is honoured: the waiters get the record, nothing keeps it.
    this.#keep(record, Number.isFinite(ttl) && ttl >= 0 ? ttl : 86_400_000);
  }

  #keep(record: TaskRecord, ttlMs: number): void {
    const final = isFinal(record.status);
    this.#records.set(record.id, { record, expiresAt: final ? Date.now() + ttlMs : Infinity });
    if (final) this.#waiters.wake(record);
  }

  #current(id: string): TaskRecord | undefined {
    const kept = this.#records.get(id);
    if (kept === undefined) return undefined;
    if (kept.expiresAt <= Date.now()) {
      this.#records.delete(id);
      return undefined;
    }
    return kept.record;
  }

  async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    const current = this.#current(record.id);
    if (current !== undefined && current.attempts > record.attempts) return false;
    const route = isFinal(record.status) ? this.#routes.take(record.id) : undefined;
    if (route === undefined) {
      this.#keep(record, options.ttlMs);
      return true;
    }
    let body = Buffer.from(JSON.stringify(record));
    if (body.length > this.#session.maxMessageBytes) {
      // The reply cannot carry this record: the task ends in error saying so, once, rather than
      // failing to settle and running again until its delivery limit.
      record = tooLargeReply(record, body.length, this.#session.maxMessageBytes);
      body = Buffer.from(JSON.stringify(record));
      if (body.length > this.#session.maxMessageBytes) body = Buffer.from(JSON.stringify((record = { ...record, args: [] })));
    }
    this.#keep(record, options.ttlMs);
    // Awaited: the kernel acks the task only after this resolves, so a reply lost to a dropped
    // link leaves the task unacked and it runs (and replies) again.
    const deadline = Date.now() + this.#session.publishTimeoutMs;
    const link = await this.#session.ready(deadline);
    await this.#session.confirm(link, '', route.replyTo, body, { correlationId: route.correlationId, contentType: 'application/json', headers: { [TTL_HEADER]: options.ttlMs } }, deadline);
    return true;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    return this.#current(id);
  }

  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    const now = this.#current(id);
    if (now !== undefined && isFinal(now.status)) return Promise.resolve(now);
    return this.#waiters.wait(id, timeoutMs).result;
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#session.removeSetup(this.#setup);
    await this.#session.release();
  }
}

/** The record a waiter gets instead of one too large for a reply: status error, INVALID_RESULT. */
function tooLargeReply(record: TaskRecord, bytes: number, max: number): TaskRecord {
  const { returning: _returning, progress: _progress, ...rest } = record;
  const message = `rabbitmq: the final record of task "${record.name}" is ${bytes} bytes, over the broker's max message size of ${max} bytes; a reply cannot carry it`;
  return { ...rest, status: TaskStatus.ERROR, finishedAt: record.finishedAt ?? Date.now(), error: { name: 'QTasksError', code: ErrorCodes.INVALID_RESULT, message } };
}
