/**
 * Consuming with placement 'queue': each queue lives on its own slot, so one claim script cannot
 * take from several queues and one BZPOPMIN cannot wait on their markers. One Consumer per queue,
 * on its queue's keys, all sharing the worker's concurrency (SlotPool). Priority then orders the
 * tasks of each queue, not across queues.
 */
import type { ConsumeOptions, Delivery } from '../../core/contracts.js';
import type { LoggerLike } from '../../core/logger.js';
import type { RedisConnection } from './connection.js';
import { Consumer, SlotPool, type ConsumerSettings, type OpKind } from './consumer.js';

export class QueueConsumers {
  readonly #byQueue = new Map<string, Consumer>();

  constructor(conn: RedisConnection, opts: ConsumeOptions, settings: ConsumerSettings, log: LoggerLike, fused: string) {
    const pool = new SlotPool(opts.concurrency);
    const placement = conn.placement;
    for (const queue of new Set(opts.queues)) {
      this.#byQueue.set(queue, new Consumer(conn, { ...opts, queues: [queue] }, settings, log, fused, placement.of(queue), pool));
    }
  }

  async start(): Promise<void> {
    const started = await Promise.allSettled([...this.#byQueue.values()].map((c) => c.start()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stop();
      throw failed.reason;
    }
  }

  pause(): void {
    for (const c of this.#byQueue.values()) c.pause();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#byQueue.values()].map((c) => c.stop()));
  }

  release(delivery: Delivery, delayMs: number): Promise<boolean> {
    return this.#of(delivery)?.release(delivery, delayMs) ?? Promise.resolve(false);
  }

  settle(kind: OpKind, delivery: Delivery, record: string, num: number, about: string, extra?: string): Promise<boolean> {
    return this.#of(delivery)?.settle(kind, delivery, record, num, about, extra) ?? Promise.resolve(false);
  }

  isLarge(delivery: Delivery): boolean {
    return this.#of(delivery)?.isLarge(delivery) ?? false;
  }

  #of(delivery: Delivery): Consumer | undefined {
    return this.#byQueue.get(delivery.message.queue);
  }
}

/** The outbox split by queue, each queue's publishes in their order. */
export function byQueue<T extends { readonly queue: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(item.queue);
    if (list === undefined) out.set(item.queue, [item]);
    else list.push(item);
  }
  return out;
}

/** Placement 'queue': each queue keeps its own dead letters; up to `limit` of them, queue by queue, newest first within a queue. */
export async function deadLettersPerQueue(conn: RedisConnection, limit: number): Promise<string[]> {
  const placement = conn.placement;
  const queues = await conn.call('deadLetters', (c) => placement.queues(c));
  const lists = await Promise.all(queues.map((q) => conn.call('deadLetters', (c) => c.lrange(placement.of(q).dead, 0, Math.max(0, limit - 1)))));
  return lists.flat().slice(0, Math.max(0, limit));
}
