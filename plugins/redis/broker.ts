/**
 * The Redis broker. The publishes of one event-loop tick are one script call (messages, ready or
 * delayed entries, wake-up markers); consuming is the Consumer loop. With `records` (the plugin is also the storage), every
 * record write happens inside the same scripts, fenced by the delivery's lease.
 */
import type { Broker, ComponentContext, ConsumeOptions, Control, DeadLetter, Delivery, PublishOptions, PublishOutcome, DedupRequest, Retention, SaveOptions } from '../../core/contracts.js';
import { ConnectionClosedError, ErrorCodes, QTasksError } from '../../core/errors.js';
import { TaskStatus, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { driverError, wholeMs, type RedisConnection } from './connection.js';
import { Consumer } from './consumer.js';
import type { Keys } from './keys.js';
import { LARGE_MESSAGE, recordWithoutArgs } from './large.js';
import { QueueConsumers, byQueue, deadLettersPerQueue } from './queue-consumers.js';
import { RedisControl } from './control.js';
import type { RedisStorage } from './storage.js';

/** Publishes per script call; bounds how long one call holds the server. */
const MAX_PUBLISH_BATCH = 500;
/**
 * The first this many adds of a tick go without waiting for the end of the tick: Redis runs them
 * while Node builds the rest (a window of 100 adds cost Node's time plus Redis's time, one after
 * the other). The rest still go together at the end of the tick (a bulk add of 1,000 is three
 * calls, not twenty). Two parts of a window of 100 cost Redis 2.5% more instructions per task
 * (callgrind), four parts 10%.
 */
const SEND_FIRST = 50;

interface Outgoing {
  /** '<priority>|<delayMs>|<runAt>|<r>|': with the queue, what consecutive tasks must share to form a group. */
  readonly fields: string;
  readonly queue: string;
  readonly name: string;
  readonly id: string;
  /** The message JSON; '' for a large message, which goes as `staged`. */
  readonly body: string;
  /** A large message's job string, staged beside the script (see staged()). */
  readonly staged: Buffer | undefined;
  readonly record: string | undefined;
  /** ms the caller waits for the outcome, when the enqueue marks the wait (see RedisStorage.markedByEnqueue). */
  readonly waitMs: number | undefined;
  readonly resolve: (outcome: PublishOutcome | undefined) => void;
  readonly reject: (err: Error) => void;
}

export interface RedisBrokerSettings {
  /** Longest single blocking wait of an idle worker, ms. */
  readonly blockMs: number;
  /** Finished records kept per queue and status, by count. */
  readonly retention?: Retention;
}


export class RedisBroker implements Broker {
  readonly name = 'redis';
  readonly records: RedisStorage | undefined;
  readonly control: Control;
  /**
   * Queue limits (`app.queue` without `key`) are held by the claim script (limiter-lua.ts), in
   * placement 'app'. In placement 'queue' the worker's gate holds them, under the app's tag: a
   * task the gate holds for its own limit takes its queue's rate slot again at its real start,
   * with its task's slots, in one atomic call, which cannot span the queue's and the app's slots.
   */
  readonly claimLimits: boolean;
  readonly #conn: RedisConnection;
  readonly #settings: RedisBrokerSettings;
  #ctx: ComponentContext | undefined;
  #consumer: Consumer | QueueConsumers | undefined;
  #started = false;
  readonly #outbox: Outgoing[] = [];
  #lastAbout: { status: string; queue: string; name: string; about: string } | undefined;
  #flushScheduled = false;
  /** The first part of this tick's burst went already (SEND_FIRST). */
  #sentFirst = false;
  /** Caller-chosen ids in the outbox (publishes with `unique`), each with its publish. */
  readonly #outboxIds = new Map<string, Promise<PublishOutcome | undefined>>();

  constructor(conn: RedisConnection, settings: RedisBrokerSettings, records?: RedisStorage) {
    this.#conn = conn;
    this.#settings = settings;
    this.records = records;
    this.control = new RedisControl(conn, records);
    this.claimLimits = !conn.perQueue;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
    await this.#conn.acquire(ctx);
    try {
      await this.#conn.placement.check(this.#conn.client);
    } catch (err) {
      await this.#conn.release();
      throw err instanceof QTasksError ? err : driverError(err, 'start');
    }
    await (this.control as RedisControl).start(ctx);
    this.#started = true;
  }

  /** Resolves once the batch holding this message ran on the server (publishes of one tick go together). */
  publish(message: TaskMessage, options: PublishOptions): Promise<void | PublishOutcome> {
    if (!this.#started) return Promise.reject(new ConnectionClosedError('redis broker'));
    // The `new` record is stored only when it is not the one the message derives to (the usual
    // case): half the bytes and a cheaper write per task.
    const record = this.records !== undefined && !derivable(message, options.record) ? `0|${JSON.stringify(options.record)}` : '';
    // Tasks that share these fields and the queue travel under one group header (ENQUEUE in lua.ts).
    const delay = wholeMs(options.delayMs, 0);
    const fields = `${message.priority}|${delay}|${delay > 0 ? (options.record.runAt ?? '') : ''}|${record === '' ? 0 : 1}|`;
    const json = JSON.stringify(message);
    // Placement 'queue': the wait begun just before looks for the task on its queue alone.
    if (options.awaitsResult && this.records !== undefined && this.#conn.perQueue) this.records.queueOf(message.id, message.queue);
    if (options.dedup !== undefined) return this.#publishDedup(message, fields, json, record, options.dedup);
    // A large message goes as its staged job string (placeholder head, see pushGroups; large.ts).
    const large = json.length >= LARGE_MESSAGE ? staged(json, delay > 0 ? `${options.record.runAt ?? ''}|` : READY_PLACEHOLDER) : undefined;
    // One script call checks its ids before writing any: a caller-chosen id twice in one batch
    // would be written twice, so the second waits for the first and is the duplicate.
    if (options.unique === true) {
      const earlier = this.#outboxIds.get(message.id);
      if (earlier !== undefined) return earlier.then(() => ({ existing: message.id }));
    }
    // A caller waiting for the outcome (not a caller-chosen id: that may name an existing task,
    // whose record the storage's own WATCH reads) has its wait marked by the enqueue.
    let waitMs: number | undefined;
    if (options.waitMs !== undefined && options.awaitsResult && this.records !== undefined && options.unique !== true) {
      waitMs = Math.max(0, Math.round(options.waitMs)) + 1_000;
      this.records.markedByEnqueue(message.id);
    }
    const sent = new Promise<PublishOutcome | undefined>((resolve, reject) => {
      this.#outbox.push({ fields, queue: message.queue, name: message.name, id: message.id, body: large === undefined ? json : '', staged: large, record: record === '' ? undefined : record, waitMs, resolve, reject });
      if (this.#outbox.length === SEND_FIRST && !this.#sentFirst) {
        this.#sentFirst = true;
        this.#flush();
      } else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // After this turn's microtasks, not the next turn of the event loop: the adds of one burst
        // (a loop of addTask calls reaches here synchronously) still go together, and a lone add
        // does not wait for the loop's poll phase (up to a few hundred µs on a busy host).
        process.nextTick(() => {
          this.#sentFirst = false;
          this.#flush();
        });
      }
    });
    if (options.unique === true) this.#outboxIds.set(message.id, sent);
    return sent;
  }

  /** One task with a dedup key: its own script call (ENQUEUE_DEDUP), checked and enqueued atomically. */
  async #publishDedup(message: TaskMessage, fields: string, body: string, record: string, dedup: DedupRequest): Promise<PublishOutcome | undefined> {
    const placement = this.#conn.placement;
    const keys = placement.of(message.queue);
    if (placement.perQueue) await this.#register(message.queue);
    const args: Array<string | number> = [keys.seq, keys.base, 1, this.records !== undefined ? '1' : '', `${fields}1|${Buffer.byteLength(message.queue)}|${message.queue}${message.name}`, message.id, body];
    if (record !== '') args.push(record);
    // The message begins with its id (the kernel builds it so): the script swaps it for a debounced task's.
    args.push(dedup.mode, dedup.key, dedup.ttlMs, Buffer.byteLength(`{"id":${JSON.stringify(message.id)}`));
    return outcomeOf(await this.#conn.runArgs('qtasksEnqueueDedup', args), message.id);
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.#outboxIds.clear();
    if (this.#outbox.length > 0 && this.#conn.placement.perQueue) {
      this.#flushPerQueue(this.#outbox.splice(0));
      return;
    }
    while (this.#outbox.length > 0) this.#send(() => this.#conn.keys, queuesTogether(this.#outbox.splice(0, MAX_PUBLISH_BATCH)));
  }

  /** Placement 'queue': one enqueue call per queue (each queue is on its own slot), after the queue joined the app's list. */
  #flushPerQueue(outbox: Outgoing[]): void {
    const placement = this.#conn.placement;
    for (const [queue, all] of byQueue(outbox)) {
      for (let at = 0; at < all.length; at += MAX_PUBLISH_BATCH) this.#send(() => placement.of(queue), all.slice(at, at + MAX_PUBLISH_BATCH), this.#register(queue));
    }
  }

  /** One enqueue script call for `batch` under `keys` (after `before`, when given); settles each publish with its outcome. */
  #send(keys: () => Keys, batch: readonly Outgoing[], before?: Promise<void>): void {
    let sent: Promise<unknown>;
    try {
      const k = keys();
      const args: Array<string | number> = [k.seq, k.base, batch.length, this.records !== undefined ? '1' : ''];
      const staged = pushGroups(args, batch, k.base);
      pushWaits(args, batch);
      const run = (): Promise<unknown> => (staged.length === 0 ? this.#conn.runArgs('qtasksEnqueue', args) : this.#conn.runStaged('qtasksEnqueue', staged, args));
      sent = before === undefined ? run() : before.then(run);
    } catch (err) {
      sent = Promise.reject(err); // stopped in the meantime
    }
    sent.then(
      (reply) => {
        // An array: the ids the script left alone because they exist (deduplicated).
        const skipped = Array.isArray(reply) && reply.length > 0 ? new Set(reply as string[]) : undefined;
        for (const p of batch) p.resolve(skipped?.has(p.id) === true ? { existing: p.id } : undefined);
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        for (const p of batch) p.reject(error);
      },
    );
  }

  /** The queue in the app's list before its first enqueue (Placement.register); driver errors as the enqueue's would be. */
  #register(queue: string): Promise<void> {
    return this.#conn.placement.register(this.#conn.client, queue).catch((err: unknown) => {
      throw driverError(err, 'qtasksEnqueue');
    });
  }

  async consume(options: ConsumeOptions): Promise<void> {
    if (!this.#started || this.#ctx === undefined) throw new ConnectionClosedError('redis broker');
    if (this.#consumer !== undefined) throw new QTasksError(ErrorCodes.UNSUPPORTED, 'redis broker: consume() was already called');
    if (options.queues.length === 0) throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis broker: consume() needs at least one queue');
    const control = this.control as RedisControl;
    const settings = { leaseMs: this.#ctx.config.leaseMs, blockMs: this.#settings.blockMs, onCancelRequest: (id: string, reason: string) => control.requested(id, reason) };
    const r = this.#settings.retention ?? {};
    const fused = `${this.records !== undefined ? '1' : ''}|${r.success ?? ''}|${r.error ?? ''}|${r.cancel ?? ''}|${r.dead ?? ''}`;
    const consumer = this.#conn.placement.perQueue
      ? new QueueConsumers(this.#conn, options, settings, this.#ctx.logger, fused)
      : new Consumer(this.#conn, options, settings, this.#ctx.logger, fused);
    this.#consumer = consumer;
    await consumer.start();
  }

  async pause(): Promise<void> {
    this.#consumer?.pause();
  }

  ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#settle('a', delivery, record, wholeMs(options.ttlMs));
  }

  retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean> {
    return this.#settle('r', delivery, record, wholeMs(delayMs, 0));
  }

  release(delivery: Delivery, delayMs: number): Promise<boolean> {
    if (this.#consumer === undefined) return Promise.resolve(false);
    return this.#consumer.release(delivery, wholeMs(delayMs, 0));
  }

  /** Back to the delayed set for `delayMs`, same attempt (release hands it to another consumer at once instead). */
  postpone(delivery: Delivery, delayMs: number): Promise<boolean> {
    if (this.#consumer === undefined) return Promise.resolve(false);
    const { queue, name } = delivery.message;
    return this.#consumer.settle('b', delivery, '', wholeMs(delayMs, 0), `|${Buffer.byteLength(queue)}|${queue}${name}`);
  }

  deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#settle('d', delivery, record, wholeMs(options.ttlMs), record.reason ?? 'dead-lettered');
  }

  #settle(kind: 'a' | 'r' | 'd', delivery: Delivery, record: TaskRecord, num: number, extra?: string): Promise<boolean> {
    const consumer = this.#consumer;
    if (consumer === undefined) return Promise.resolve(false);
    if (this.records === undefined) {
      // Without records the script stores nothing, so the slot carries the event's message (error or reason).
      return consumer.settle(kind, delivery, record.reason ?? record.error?.message ?? '', num, this.#aboutOf(record), extra);
    }
    // Stored as '<attempts>|<JSON>': the storage fence reads the number without decoding JSON. A
    // large task's outcome keeps its message for the args instead of repeating them (large.ts).
    if (kind === 'a' && consumer.isLarge(delivery)) return consumer.settle('k', delivery, `${record.attempts}|${recordWithoutArgs(record)}`, num, this.#aboutOf(record), extra);
    return consumer.settle(kind, delivery, `${record.attempts}|${JSON.stringify(record)}`, num, this.#aboutOf(record), extra);
  }

  /** STEP's per-op '<status>|<queue byte length>|<queue><name>' (lua.ts); the same string for a whole burst, so cached. */
  #aboutOf(record: TaskRecord): string {
    const c = this.#lastAbout;
    if (c !== undefined && c.status === record.status && c.queue === record.queue && c.name === record.name) return c.about;
    const about = `${record.status}|${Buffer.byteLength(record.queue)}|${record.queue}${record.name}`;
    this.#lastAbout = { status: record.status, queue: record.queue, name: record.name, about };
    return about;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const placement = this.#conn.placement;
    if (placement.perQueue) return (await deadLettersPerQueue(this.#conn, limit)).map(parseDeadLetter);
    const rows = await this.#conn.call('deadLetters', (c) => c.lrange(this.#conn.keys.dead, 0, Math.max(0, limit - 1)));
    return rows.map(parseDeadLetter);
  }

  async stop(): Promise<void> {
    this.#flush(); // publishes still waiting for the end of the tick go out before the connection closes
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

/** ENQUEUE_DEDUP's reply: { existing id } when merged, else ENQUEUE's (a count, or the ids skipped). */
function outcomeOf(reply: unknown, id: string): PublishOutcome | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const first = reply[0] as unknown;
  return typeof first === 'string' ? { existing: reply.includes(id) ? id : first } : undefined;
}

/**
 * ENQUEUE's task arguments: each run of consecutive tasks with the same fields, queue and name gets
 * one header. Returns the staged job strings (key, value pairs) of large messages, whose message
 * argument is then empty (their bodies, built by publish: '#' and 17 zeros as the ready head the
 * script writes in place, or the delayed task's runAt, then the message).
 */
function pushGroups(args: Array<string | number>, batch: readonly Outgoing[], base: string): Array<string | Buffer> {
  const staged: Array<string | Buffer> = [];
  let start = 0;
  while (start < batch.length) {
    const first = batch[start]!;
    let end = start + 1;
    while (end < batch.length && batch[end]!.fields === first.fields && batch[end]!.queue === first.queue && batch[end]!.name === first.name) end++;
    args.push(`${first.fields}${end - start}|${Buffer.byteLength(first.queue)}|${first.queue}${first.name}`);
    for (let k = start; k < end; k++) {
      const p = batch[k]!;
      if (p.staged !== undefined) staged.push(`${base}in:${p.id}`, p.staged);
      args.push(p.id, p.body);
      if (p.record !== undefined) args.push(p.record);
    }
    start = end;
  }
  return staged;
}

/**
 * A large message's staged job string, encoded now: the string dies young instead of waiting in
 * the outbox through a young-generation collection (which copies what survives), and ioredis
 * writes the bytes without joining them into a command string. Node CPU per enqueued task,
 * against the string: 10 KB ~200 -> ~165 µs, 100 KB ~1.1 -> ~0.9 ms (loaded machine).
 */
function staged(json: string, prefix: string): Buffer {
  return Buffer.from(prefix + json);
}

/** A staged ready job string's head before the script writes it: '#<16 hex counter><deliveries>|'. */
const READY_PLACEHOLDER = `#${'0'.repeat(17)}|`;

/**
 * The batch with each queue's tasks together, in their order (a stable sort; a batch of one queue,
 * the usual case, is returned as it is). Interleaved queues made a group, so a header to parse and
 * an event entry, per task (Redis instructions per enqueue with six queues: ~88k, one queue ~40k).
 * One script call enqueues the whole batch: tasks of different queues in it have no order to keep.
 */
function queuesTogether(batch: Outgoing[]): Outgoing[] {
  const first = batch[0]?.queue;
  for (const p of batch) if (p.queue !== first) return batch.sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  return batch;
}

/** After the groups: how many waits the enqueue marks, then per wait its id and its length in ms. */
function pushWaits(args: Array<string | number>, batch: readonly Outgoing[]): void {
  const at = args.length;
  args.push(0);
  let n = 0;
  for (const p of batch) {
    if (p.waitMs === undefined) continue;
    args.push(p.id, p.waitMs);
    n++;
  }
  args[at] = n;
}

/** Fields a `new` record may carry beyond those the derivation copies from the message. */
const UNSET_IN_NEW = ['startedAt', 'finishedAt', 'returning', 'error', 'reason', 'progress', 'logs'] as const;
const RECORD_KEYS = new Set(['id', 'name', 'queue', 'args', 'priority', 'status', 'attempts', 'createdAt', 'updatedAt', 'runAt', 'meta', ...UNSET_IN_NEW]);

/** Whether `record` is exactly messageToRecord(message, message.createdAt, runAt): decodeRecord rebuilds it then. */
function derivable(message: TaskMessage, record: TaskRecord): boolean {
  if (
    record.status !== TaskStatus.NEW ||
    record.attempts !== 0 ||
    record.id !== message.id ||
    record.name !== message.name ||
    record.queue !== message.queue ||
    record.args !== message.args ||
    record.priority !== message.priority ||
    record.createdAt !== message.createdAt ||
    record.updatedAt !== message.createdAt ||
    record.meta !== message.meta ||
    (record.runAt !== undefined && !(typeof record.runAt === 'number' && record.runAt > record.updatedAt))
  ) {
    return false;
  }
  for (const key of UNSET_IN_NEW) if (record[key] !== undefined) return false;
  for (const key in record) if (!RECORD_KEYS.has(key)) return false;
  return true;
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
