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
import { ErrorCodes, QTasksError } from '../../core/errors.js';
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

export class Topology {
  readonly opts: TopologyOptions;
  readonly base: string;
  readonly dlx: string;
  readonly dlq: string;

  constructor(opts: TopologyOptions) {
    this.opts = opts;
    this.base = `${opts.prefix}.${opts.appName}`;
    this.dlx = `${this.base}.dlx`;
    this.dlq = `${this.base}.dead`;
  }

  workQueue(queue: string): string {
    return `${this.base}.q.${queue}`;
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
  readonly #done = new Map<string, Promise<void>>();
  readonly #declaredAt = new Map<string, number>();
  readonly #ok = new Set<string>();
  #channel: Promise<Channel> | undefined;

  constructor(topo: Topology, model: ChannelModel | RecoveringChannelModel) {
    this.#topo = topo;
    this.#model = model;
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
      p = this.#ch()
        .then(fn)
        .then(
          () => void this.#ok.add(key),
          (err: unknown) => {
            this.#done.delete(key);
            throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: declaring ${key} failed: ${messageOf(err)}`, { cause: err });
          },
        );
      this.#done.set(key, p);
    }
    return p;
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
