/**
 * Names and declarations of one app's RabbitMQ objects, and the mappings between qtasks and AMQP
 * (priority, delay buckets). Everything is namespaced `${prefix}.${app}` so apps never meet.
 *
 *   ${prefix}.${app}.q.${queue}              work queue (classic + x-max-priority, or quorum)
 *   ${prefix}.${app}.q.${queue}.delay.${ms}  TTL holding queue, dead-letters into the work queue
 *   ${prefix}.${app}.dlx                     dead-letter exchange (fanout), the work queues' DLX
 *   ${prefix}.${app}.dead                    dead-letter queue bound to it
 */
import type { Channel, ChannelModel, Options, RecoveringChannelModel } from 'amqplib';
import { ConnectionClosedError, ErrorCodes, QTasksError } from '../../core/errors.js';
import { messageOf } from './connection.js';

export type QueueType = 'classic' | 'quorum';

export interface TopologyOptions {
  readonly prefix: string;
  readonly appName: string;
  readonly queueType: QueueType;
  /** Classic queues only: AMQP priorities 0..maxPriority; 0 declares no priorities at all. */
  readonly maxPriority: number;
  /** `x-queue-version` of every classic queue (2: the newer index and store, opt-in since 3.10). */
  readonly classicVersion: 1 | 2;
}

/** A delay queue lives this long after its last declaration plus its TTL, then RabbitMQ deletes it. */
const DELAY_QUEUE_IDLE_MS = 10 * 60_000;
/** Redeclare a delay queue before publishing when its last declaration is older than this. */
const DELAY_REDECLARE_MS = DELAY_QUEUE_IDLE_MS / 2;
/** x-message-ttl is a 32-bit value. */
export const MAX_DELAY_MS = 2 ** 31;
/** AMQP names (queues, exchanges, routing keys, message ids) are short strings: at most 255 bytes. */
export const MAX_NAME_BYTES = 255;
/** The longest suffix a work queue's name gets: its delay queues, `.delay.<ms>`. */
const DELAY_SUFFIX_BYTES = '.delay.'.length + String(MAX_DELAY_MS).length;

/** UTF-8 length, skipping the count when even 3 bytes per UTF-16 unit would fit. */
function bytesOf(s: string, room: number): number {
  return s.length * 3 <= room ? s.length : Buffer.byteLength(s, 'utf8');
}

/** Refuses a value the driver would send as an AMQP short string (a message id, say) when it is too long. */
export function checkShortString(what: string, value: string): void {
  const bytes = bytesOf(value, MAX_NAME_BYTES);
  if (bytes > MAX_NAME_BYTES) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: ${what} "${value.slice(0, 40)}…" is ${bytes} bytes; AMQP allows at most ${MAX_NAME_BYTES}`);
  }
}

/** The longest prefix that still leaves room for a one-byte app and queue name. */
export const MAX_PREFIX_BYTES = MAX_NAME_BYTES - DELAY_SUFFIX_BYTES - '.a.q.q'.length;

export class Topology {
  readonly opts: TopologyOptions;
  readonly base: string;
  readonly dlx: string;
  readonly dlq: string;
  /** Bytes left for a qtasks queue name, so that its work and delay queue names fit in AMQP's 255. */
  readonly queueRoom: number;

  constructor(opts: TopologyOptions) {
    this.opts = opts;
    this.base = `${opts.prefix}.${opts.appName}`;
    this.dlx = `${this.base}.dlx`;
    this.dlq = `${this.base}.dead`;
    this.queueRoom = MAX_NAME_BYTES - Buffer.byteLength(`${this.base}.q.`) - DELAY_SUFFIX_BYTES;
    if (this.queueRoom < 1) {
      throw new QTasksError(
        ErrorCodes.INVALID_OPTION,
        `rabbitmq: prefix and app name "${this.base.slice(0, 40)}…" leave no room for queue names (AMQP names are at most ${MAX_NAME_BYTES} bytes, and a delay queue adds up to ${DELAY_SUFFIX_BYTES}): use a shorter prefix or app name`,
      );
    }
  }

  /** The work queue of `queue`; refuses (INVALID_OPTION) a name the driver could not send. */
  workQueue(queue: string): string {
    this.checkQueue(queue);
    return `${this.base}.q.${queue}`;
  }

  /**
   * Names reach amqplib as AMQP short strings; one it cannot encode throws inside the driver after
   * the channel started waiting for a reply, which then never comes. So refuse them here, with
   * room left for the queue's delay queues.
   */
  checkQueue(queue: string): void {
    if (typeof queue !== 'string') throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: a queue name must be a string, got ${typeof queue}`);
    const bytes = bytesOf(queue, this.queueRoom);
    if (bytes > this.queueRoom) {
      throw new QTasksError(
        ErrorCodes.INVALID_OPTION,
        `rabbitmq: queue name "${queue.slice(0, 40)}…" is ${bytes} bytes; with prefix and app name "${this.base}" a queue name can have at most ${this.queueRoom} (AMQP names are at most ${MAX_NAME_BYTES} bytes)`,
      );
    }
  }

  delayQueue(queue: string, bucketMs: number): string {
    return `${this.workQueue(queue)}.delay.${bucketMs}`;
  }

  /**
   * qtasks: lower number first, any finite number, 0 the default. AMQP: 0..max, higher first,
   * and every level costs RabbitMQ a sub-queue (few levels are much faster on a deep backlog).
   * So priorities go in bands: every negative number is the top level (max), 0 is max-1, and
   * positive numbers get doubling bands below it: 1, 2-3, 4-7, 8-15... (the last level takes the
   * rest). With the default max 5: <0 → 5, 0 → 4, 1 → 3, 2-3 → 2, 4-7 → 1, ≥8 → 0. Within a band,
   * FIFO. Quorum queues on RabbitMQ 3.10, and maxPriority 0, have no priorities: undefined.
   */
  amqpPriority(priority: number): number | undefined {
    const max = this.opts.maxPriority;
    if (this.opts.queueType === 'quorum' || max === 0) return undefined;
    if (priority < 0) return max;
    if (priority === 0) return max - 1;
    const band = 1 + Math.floor(Math.log2(Math.ceil(priority)));
    return Math.max(0, max - 1 - band);
  }

  /**
   * Delays share a few TTL queues instead of one per distinct value (retry backoff has jitter):
   * a delay is rounded UP to 5 significant bits (at most 1/16 later, never earlier; exact below
   * 32 ms). Within one queue every message has the same TTL, so expiry order is arrival order
   * and no message waits behind a longer one.
   */
  static delayBucket(delayMs: number): number {
    const ms = Math.max(1, Math.ceil(delayMs));
    if (ms < 32) return ms;
    const step = 2 ** (Math.floor(Math.log2(ms)) - 4);
    return Math.ceil(ms / step) * step;
  }

  workArgs(): Record<string, unknown> {
    const args: Record<string, unknown> = { 'x-dead-letter-exchange': this.dlx };
    if (this.opts.queueType === 'quorum') return { ...args, 'x-queue-type': 'quorum' };
    if (this.opts.maxPriority > 0) args['x-max-priority'] = this.opts.maxPriority;
    return { ...args, ...this.classicArgs() };
  }

  classicArgs(): Record<string, unknown> {
    return this.opts.classicVersion === 2 ? { 'x-queue-version': 2 } : {};
  }

  delayArgs(queue: string, bucketMs: number): Record<string, unknown> {
    return {
      'x-message-ttl': bucketMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': this.workQueue(queue),
      'x-expires': bucketMs + DELAY_QUEUE_IDLE_MS,
      ...this.classicArgs(),
    };
  }

  /** Queues this app instance declared (work, delay, dead-letter), for cleanup by tests and benchmarks. */
  readonly declaredQueues = new Set<string>();

}

/**
 * Declares topology on one link, at most once per object per link (delay queues again when their
 * idle expiry could come near). Uses its own channel: a declaration RabbitMQ refuses (a queue that
 * exists with other arguments) closes that channel only, and surfaces as INVALID_OPTION.
 */
export class Declarer {
  readonly #topo: Topology;
  readonly #model: ChannelModel | RecoveringChannelModel;
  readonly #timeoutMs: number;
  readonly #done = new Map<string, Promise<void>>();
  readonly #declaredAt = new Map<string, number>();
  readonly #ok = new Set<string>();
  #channel: Promise<Channel> | undefined;

  /** `timeoutMs` bounds every declaration (channel opening included), as publishTimeoutMs bounds a publish. */
  constructor(topo: Topology, model: ChannelModel | RecoveringChannelModel, timeoutMs: number) {
    this.#topo = topo;
    this.#model = model;
    this.#timeoutMs = timeoutMs;
  }

  /** Whether `name` is declared on this link (a synchronous check for the publish hot path). */
  declared(name: string): boolean {
    return this.#ok.has(name);
  }

  #ch(): Promise<Channel> {
    if (this.#channel === undefined) {
      const opening = this.#model.createChannel().then((ch) => {
        ch.on('error', () => undefined); // reported through the failing declaration
        ch.on('close', () => {
          if (this.#channel === opening) this.#channel = undefined;
        });
        return ch;
      });
      opening.catch(() => {
        if (this.#channel === opening) this.#channel = undefined;
      });
      this.#channel = opening;
    }
    return this.#channel;
  }

  #once(key: string, fn: (ch: Channel) => Promise<unknown>): Promise<void> {
    let p = this.#done.get(key);
    if (p === undefined) {
      p = this.#declare(key, fn);
      this.#done.set(key, p);
    }
    return p;
  }

  /**
   * One declaration within the deadline. Any failure retires the channel: a refusal has closed it
   * already, and after a timeout or a driver error it may be waiting on a reply that never comes,
   * which would hold every later declaration behind it.
   */
  async #declare(key: string, fn: (ch: Channel) => Promise<unknown>): Promise<void> {
    const opening = this.#ch();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectionClosedError(`rabbitmq: declaring ${key} got no reply within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      await Promise.race([opening.then(fn), deadline]);
      this.#ok.add(key);
    } catch (err) {
      this.#done.delete(key);
      if (this.#channel === opening) this.#channel = undefined;
      void opening.then((ch) => ch.close()).catch(() => undefined);
      if (err instanceof ConnectionClosedError) throw err;
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: declaring ${key} failed: ${messageOf(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The dead-letter exchange and queue. */
  base(): Promise<void> {
    const t = this.#topo;
    return this.#once(t.dlx, async (ch) => {
      await ch.assertExchange(t.dlx, 'fanout', { durable: true });
      await ch.assertQueue(t.dlq, { durable: true, arguments: t.classicArgs() });
      t.declaredQueues.add(t.dlq);
      await ch.bindQueue(t.dlq, t.dlx, '');
    });
  }

  /** A work queue (after the DLX it points to). */
  async work(queue: string): Promise<void> {
    const name = this.#topo.workQueue(queue);
    const done = this.#done.get(name);
    if (done !== undefined) return done;
    await this.base();
    this.#topo.declaredQueues.add(name);
    return this.#once(name, (ch) => ch.assertQueue(name, { durable: true, arguments: this.#topo.workArgs() } satisfies Options.AssertQueue));
  }

  /** A delay queue for `bucketMs`; redeclared when its last declaration is getting old. */
  async delay(queue: string, bucketMs: number): Promise<string> {
    const name = this.#topo.delayQueue(queue, bucketMs);
    const at = this.#declaredAt.get(name);
    const now = Date.now();
    if (at !== undefined && now - at > DELAY_REDECLARE_MS) {
      this.#done.delete(name);
      this.#ok.delete(name);
    }
    await this.work(queue);
    this.#topo.declaredQueues.add(name);
    await this.#once(name, (ch) => ch.assertQueue(name, { durable: true, arguments: this.#topo.delayArgs(queue, bucketMs) }));
    if (at === undefined || now - at > DELAY_REDECLARE_MS) this.#declaredAt.set(name, now);
    return name;
  }

  close(): void {
    void this.#channel?.then((ch) => ch.close()).catch(() => undefined);
    this.#channel = undefined;
  }
}
