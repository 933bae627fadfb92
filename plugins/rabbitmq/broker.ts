/**
 * The RabbitMQ broker: confirmed persistent publishes, consumption with prefetch and manual acks
 * sent only when the kernel settles (after it stored the outcome), retries and delays through TTL
 * queues, dead letters through the app's DLX, and attempt counting across crashes.
 *
 * Attempts: a message carries `x-qtasks-deliveries`, the deliveries it had before this copy was
 * published (absent = 0). Classic queues only say "redelivered" (a consumer had it and did not
 * ack), not how often, so a redelivered message is republished with the count + 1 and the
 * original acked; the copy then arrives as attempt count + 1. Quorum queues count for us
 * (`x-delivery-count`), so their attempt is count + x-delivery-count + 1 without republishing.
 * A redelivered message whose task already has a final record in storage is acked and dropped:
 * its worker died after storing the outcome, before the ack reached RabbitMQ.
 */
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import type { Broker, ComponentContext, ConsumeOptions, DeadLetter, Delivery, PublishOptions, SaveOptions, Storage } from '../../core/contracts.js';
import type { LoggerLike } from '../../core/logger.js';
import { isFinal, TaskStatus, validateMessage, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { AckBatcher } from './acks.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { ID_HEADER, REASON_HEADER, readDeadLetters } from './dead-letters.js';
import { messageOf, type AmqpSession, type Link } from './connection.js';
import { REPLY_TO, type ReplyRoutes } from './reply-storage.js';
import { checkShortString, Declarer, MAX_DELAY_MS, Topology } from './topology.js';
import { asQTasksError, ErrorCodes, QTasksError } from '../../core/errors.js';

export const DELIVERIES_HEADER = 'x-qtasks-deliveries';
/** Marks the copy `app.promote` published: any other copy of that task is dropped on receipt. */
export const COPY_HEADER = 'x-qtasks-copy';
/** Of those deliveries, how many were lost (ran and returned unsettled: their worker or channel died). */
export const LOST_HEADER = 'x-qtasks-lost';

export interface BrokerSettings {
  /** Server-side prefetch; default the worker's concurrency. Extra messages wait here, unacked. */
  readonly prefetch?: number;
  /** How many dead letters `deadLetters` reads at most to find the newest. */
  readonly deadLetterScanLimit: number;
}

interface Consumer {
  readonly ch: Channel;
  readonly gen: number;
  readonly tags: Set<string>;
  /** The consumer tag of each queue consumed now (a held queue has none). */
  readonly byQueue: Map<string, string>;
  readonly acks: AckBatcher;
}

class RabbitDelivery implements Delivery {
  settled = false;
  constructor(
    readonly message: TaskMessage,
    readonly attempt: number,
    readonly lost: number,
    readonly raw: ConsumeMessage,
    readonly consumer: Consumer,
  ) {}
}

type Target = (d: Declarer) => Promise<[exchange: string, routingKey: string]>;

export class RabbitBroker implements Broker {
  readonly name = 'rabbitmq';
  readonly #session: AmqpSession;
  readonly #topo: Topology;
  readonly #routes: ReplyRoutes;
  readonly #settings: BrokerSettings;
  #log: LoggerLike | undefined;
  /** The app's storage, read only to recognise redeliveries of tasks that already have an outcome. */
  readonly #storage: () => Storage | undefined;
  #declarer: { gen: number; d: Declarer } | undefined;
  #options: ConsumeOptions | undefined;
  #consumer: Consumer | undefined;
  #unsettled = 0;
  #backlog: Array<[ConsumeMessage, Consumer, string]> = [];
  #paused = false;
  /** Queues the control plane paused (control.ts): not consumed until released. */
  #held: (queue: string) => boolean = () => false;
  /** Redeliveries being checked or recounted and malformed messages being dead-lettered: stop waits for them. */
  readonly #handling = new Set<Promise<void>>();
  #started = false;
  #stopped = false;

  constructor(session: AmqpSession, topo: Topology, routes: ReplyRoutes, settings: BrokerSettings, storage: () => Storage | undefined) {
    this.#storage = storage;
    this.#session = session;
    this.#topo = topo;
    this.#routes = routes;
    this.#settings = settings;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#log = ctx.logger;
    await this.#session.acquire(ctx.logger);
    this.#started = true;
    await this.#session.addSetup(this.#onLink);
  }

  /** Every new link: fresh declarations (the server may have restarted) and, if consuming, consumers. */
  readonly #onLink = async (link: Link): Promise<void> => {
    const d = this.#declarerOf(link);
    await d.base();
    if (this.#options !== undefined && !this.#paused && !this.#stopped) await this.#startConsumer(link);
  };

  #declarerOf(link: Link): Declarer {
    if (this.#declarer?.gen !== link.gen) {
      this.#declarer?.d.close();
      this.#declarer = { gen: link.gen, d: new Declarer(this.#topo, link.model, this.#session.publishTimeoutMs) };
    }
    return this.#declarer.d;
  }

  /** `headers`: extra AMQP headers (a promoted copy's id and deliveries so far). */
  async publish(message: TaskMessage, options: PublishOptions, headers?: Record<string, unknown>): Promise<void> {
    if (options.delayMs > MAX_DELAY_MS) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: delay ${options.delayMs} ms is longer than ${MAX_DELAY_MS} ms`);
    }
    if (typeof message.id !== 'string') throw new QTasksError(ErrorCodes.INVALID_OPTION, 'rabbitmq: a task id must be a string');
    checkShortString('task id', message.id);
    this.#topo.checkQueue(message.queue);
    const props: Options.Publish = { persistent: true, messageId: message.id, ...(headers !== undefined ? { headers } : {}) };
    const priority = this.#topo.amqpPriority(message.priority);
    if (priority !== undefined) props.priority = priority;
    if (options.awaitsResult && this.#routes.enabled) {
      props.replyTo = REPLY_TO;
      props.correlationId = message.id;
    }
    const direct: [string, string] | undefined = options.delayMs > 0 ? undefined : ['', this.#topo.workQueue(message.queue)];
    const body = encodeMessage(message);
    // Checked before sending: RabbitMQ answers an oversized message by closing the channel.
    if (body.length > this.#session.maxMessageBytes) throw this.#session.tooLarge(body.length, `the message of task "${message.name}"`);
    await this.#send(this.#queueTarget(message.queue, options.delayMs), body, props, direct);
  }

  /** The app's dead-letter exchange. */
  readonly #dlxTarget: Target = async (d) => (await d.base(), [this.#topo.dlx, '']);

  #queueTarget(queue: string, delayMs: number): Target {
    if (delayMs > 0) return async (d) => ['', await d.delay(queue, Topology.delayBucket(delayMs))];
    return async (d) => {
      await d.work(queue);
      return ['', this.#topo.workQueue(queue)];
    };
  }

  /**
   * Publishes with a confirm on the current link. When the link drops before the confirm, the
   * message is sent again on the next link (the broker may then hold two copies: at-least-once),
   * all within publishTimeoutMs; after that, ConnectionClosedError.
   */
  async #send(target: Target, body: Buffer, props: Options.Publish, ready?: [exchange: string, routingKey: string]): Promise<void> {
    const deadline = Date.now() + this.#session.publishTimeoutMs;
    // Hot path: connected, not blocked, queue already declared on this link — no extra awaits.
    const now = this.#session.link;
    let known =
      ready !== undefined && now !== undefined && this.#session.blocked === undefined && this.#declarer?.gen === now.gen && this.#declarer.d.declared(ready[1])
        ? ready
        : undefined;
    for (;;) {
      const link = known !== undefined ? now! : await this.#session.ready(deadline);
      try {
        const [exchange, key] = known ?? (await target(this.#declarerOf(link)));
        await this.#session.confirm(link, exchange, key, body, props, deadline);
        return;
      } catch (err) {
        known = undefined;
        // Give the close events a turn to arrive, then tell "link lost" from "refused".
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#session.link === link || Date.now() >= deadline || this.#stopped) throw err;
        this.#log?.warn({ err: messageOf(err) }, 'rabbitmq link lost during publish: sending again after recovery');
      }
    }
  }

  async consume(options: ConsumeOptions): Promise<void> {
    this.#options = options;
    this.#paused = false;
    const deadline = Date.now() + this.#session.publishTimeoutMs;
    for (;;) {
      const link = await this.#session.ready(deadline);
      if (this.#consumer?.gen === link.gen) return;
      try {
        await this.#startConsumer(link);
        return;
      } catch (err) {
        // A link lost meanwhile (a broker restarting, say) is recovered, and the next link's
        // setup starts the consumer: wait for it. A refusal on a live link is final.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#session.link === link || Date.now() >= deadline || this.#stopped) {
          throw asQTasksError(err, ErrorCodes.BROKER_UNAVAILABLE, 'rabbitmq: starting the consumer failed');
        }
      }
    }
  }

  async #startConsumer(link: Link): Promise<void> {
    const options = this.#options!;
    const d = this.#declarerOf(link);
    for (const q of options.queues) await d.work(q);
    // A channel of an older link may still be open (only the publish channel failed, on a
    // connection we do not own): close it so its unacked messages return to the queue.
    const old = this.#consumer;
    if (old !== undefined && old.gen !== link.gen) void old.ch.close().catch(() => undefined);
    const ch = await link.model.createChannel();
    const quorum = this.#topo.opts.queueType === 'quorum';
    // Classic: one channel-wide limit over all queues (global QoS). Quorum queues refuse global
    // QoS, so each consumer gets the limit and the local gate below keeps the kernel's bound.
    const prefetch = Math.min(65_535, this.#settings.prefetch ?? options.concurrency);
    await ch.prefetch(prefetch, !quorum && options.queues.length > 1);
    const acks = new AckBatcher(ch, (err) => this.#log?.warn({ err: messageOf(err) }, 'rabbitmq channel closed before its acks went out; the messages return to the queue'));
    const consumer: Consumer = { ch, gen: link.gen, tags: new Set(), byQueue: new Map(), acks };
    this.#session.watch(ch, link.gen, 'consume', () => this.#stopped || consumer !== this.#consumer);
    this.#consumer = consumer;
    this.#backlog = [];
    for (const q of options.queues) if (!this.#held(q)) await this.#consumeQueue(consumer, q);
  }

  async #consumeQueue(consumer: Consumer, q: string): Promise<void> {
    // The queue travels with each message: deliveries can arrive before consume() resolves.
    const { consumerTag } = await consumer.ch.consume(this.#topo.workQueue(q), (m) => this.#onMessage(m, consumer, q), { noAck: false });
    consumer.tags.add(consumerTag);
    consumer.byQueue.set(q, consumerTag);
  }

  /**
   * The control plane's pause: stop consuming the queues `held` names, consume the others again,
   * on the same channel (deliveries in flight stay settleable). Applied to every later consumer too.
   */
  async hold(held: (queue: string) => boolean): Promise<void> {
    this.#held = held;
    const consumer = this.#consumer;
    if (this.#options === undefined || this.#paused || this.#stopped || consumer === undefined || !this.#alive(consumer)) return;
    for (const q of this.#options.queues) {
      const tag = consumer.byQueue.get(q);
      if (held(q) && tag !== undefined) {
        consumer.byQueue.delete(q);
        consumer.tags.delete(tag);
        await consumer.ch.cancel(tag).catch(() => undefined);
      } else if (!held(q) && tag === undefined) {
        await this.#consumeQueue(consumer, q);
      }
    }
  }

  #onMessage(m: ConsumeMessage | null, consumer: Consumer, queue: string): void {
    if (m === null) {
      // The server cancelled us (queue deleted): rebuild the link, which redeclares and resubscribes.
      if (!this.#stopped && !this.#paused && consumer === this.#consumer) this.#session.fail(new Error('consumer cancelled by the server'));
      return;
    }
    consumer.acks.received(m);
    if (this.#unsettled >= this.#options!.concurrency) {
      this.#backlog.push([m, consumer, queue]);
      return;
    }
    this.#dispatch(m, consumer, queue);
  }

  #dispatch(m: ConsumeMessage, consumer: Consumer, queue: string): void {
    let value: unknown;
    try {
      value = decodeMessage(m.content, m.properties.messageId);
    } catch {
      return this.#track(this.#malformed(m, consumer, 'payload is not JSON'));
    }
    const bad = validateMessage(value);
    if (bad !== undefined) return this.#track(this.#malformed(m, consumer, bad));
    const message = value as TaskMessage;
    // The slot is taken now; a redelivery being checked holds it too, so the bound stays exact.
    this.#unsettled++;
    if (m.fields.redelivered) return this.#track(this.#redelivered(m, consumer, queue, message));
    this.#deliver(m, consumer, message);
  }

  /** `attempt`: when the storage told it (a redelivery); otherwise counted from the headers. */
  #deliver(m: ConsumeMessage, consumer: Consumer, message: TaskMessage, known?: number): void {
    const headers = m.properties.headers ?? {};
    const prior = count(headers[DELIVERIES_HEADER]);
    let attempt = known ?? prior + 1;
    let lost = count(headers[LOST_HEADER]);
    if (known !== undefined) {
      // The storage showed runs beyond the count: each of them was lost with its worker.
      lost += known - (prior + 1);
    } else if (this.#topo.opts.queueType === 'quorum') {
      // Quorum queues count the returns themselves: each one is a lost delivery.
      const returned = count(headers['x-delivery-count']);
      attempt += returned;
      lost += returned;
    }
    if (this.#routes.enabled) this.#routes.remember(message.id, m.properties.replyTo, m.properties.correlationId);
    this.#options!.onDelivery(new RabbitDelivery(message, attempt, lost, m, consumer));
  }


  /**
   * A message flagged redelivered. The flag says less than it seems: a consumer that died or lost
   * its channel had it, but so does every message a classic queue recovers after a broker crash,
   * touched or not. So the storage decides where it can:
   *
   * - the task's outcome is stored: its worker died between storing it and acking; drop the copy;
   * - a `process` record of this copy (attempts beyond the copy's count) is stored: those runs
   *   were lost; count them (classic: republish with the count, then ack; quorum: deliver);
   * - any other record (`new`, `retry` of an earlier copy): this copy never ran; it costs nothing
   *   and runs as the attempt it was.
   *
   * With no record to go by (RabbitMQ alone, or a storage read that failed), the flag is trusted:
   * quorum queues count through x-delivery-count, classic ones republish with the count + 1.
   */
  async #redelivered(m: ConsumeMessage, consumer: Consumer, queue: string, message: TaskMessage): Promise<void> {
    let stored: TaskRecord | undefined;
    try {
      stored = await this.#storage()?.get(message.id);
    } catch (err) {
      this.#log?.warn({ err: messageOf(err), taskId: message.id }, 'rabbitmq could not read storage for a redelivered task; counting the redelivery');
    }
    if (stored !== undefined && isFinal(stored.status)) {
      this.#log?.info({ taskId: message.id }, 'rabbitmq redelivered task already has its outcome stored: dropped');
      this.#settleRaw(consumer, m, 'ack');
      return this.#release();
    }
    const prior = count(m.properties.headers?.[DELIVERIES_HEADER]);
    if (stored !== undefined) {
      const ran = stored.status === TaskStatus.PROCESS ? stored.attempts : 0;
      if (ran <= prior) return this.#deliver(m, consumer, message, prior + 1);
      if (this.#topo.opts.queueType === 'quorum') return this.#deliver(m, consumer, message, ran + 1);
      await this.#recount(m, consumer, queue, ran, count(m.properties.headers?.[LOST_HEADER]) + (ran - prior));
      return this.#release();
    }
    if (this.#topo.opts.queueType === 'quorum') return this.#deliver(m, consumer, message);
    await this.#recount(m, consumer, queue, prior + 1, count(m.properties.headers?.[LOST_HEADER]) + 1);
    this.#release();
  }

  #track(work: Promise<void>): void {
    this.#handling.add(work);
    void work.finally(() => this.#handling.delete(work));
  }

  #release(): void {
    this.#unsettled--;
    if (this.#backlog.length > 0) queueMicrotask(() => this.#drain());
  }

  /** A classic redelivery: count the lost deliveries by republishing with `deliveries` and `lost`, then ack. */
  async #recount(m: ConsumeMessage, consumer: Consumer, queue: string, deliveries: number, lost: number): Promise<void> {
    try {
      await this.#send(this.#queueTarget(queue, 0), m.content, this.#copyProps(m, deliveries, lost));
      this.#settleRaw(consumer, m, 'ack');
    } catch (err) {
      this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not recount a redelivered message; it stays in the queue');
      this.#settleRaw(consumer, m, 'requeue');
    }
  }

  async #malformed(m: ConsumeMessage, consumer: Consumer, reason: string): Promise<void> {
    const why = `malformed message: ${reason}`;
    this.#log?.error({ reason: why, ...(typeof m.properties.messageId === 'string' ? { taskId: m.properties.messageId } : {}) }, 'rabbitmq malformed message dead-lettered');
    try {
      await this.#send(this.#dlxTarget, m.content, {
        ...this.#copyProps(m, count(m.properties.headers?.[DELIVERIES_HEADER])),
        headers: { ...m.properties.headers, [REASON_HEADER]: why, ...(typeof m.properties.messageId === 'string' ? { [ID_HEADER]: m.properties.messageId } : {}) },
      });
      this.#settleRaw(consumer, m, 'ack');
    } catch (err) {
      // Fall back on the queue's own dead-lettering (x-death says "rejected").
      this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not publish a dead letter; rejecting to the DLX');
      this.#settleRaw(consumer, m, 'reject');
    }
  }

  /** `lost` replaces the message's lost count (a quorum queue's returns are folded into it). */
  #copyProps(m: ConsumeMessage, deliveries: number, lost?: number): Options.Publish {
    const p = m.properties;
    const headers: Record<string, unknown> = { ...p.headers, [DELIVERIES_HEADER]: deliveries };
    if (lost !== undefined && lost > 0) headers[LOST_HEADER] = lost;
    const props: Options.Publish = { persistent: true, headers };
    if (typeof p.contentType === 'string') props.contentType = p.contentType;
    if (typeof p.messageId === 'string') props.messageId = p.messageId;
    if (typeof p.priority === 'number') props.priority = p.priority;
    if (typeof p.replyTo === 'string') props.replyTo = p.replyTo;
    if (typeof p.correlationId === 'string') props.correlationId = p.correlationId;
    return props;
  }

  /**
   * Acks or nacks on the delivery's channel if it is still the live one. amqplib throws on a
   * closed channel, and the close event can trail the close itself: never let that escape.
   */
  #settleRaw(consumer: Consumer, m: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): boolean {
    if (!this.#alive(consumer)) return false;
    try {
      if (how === 'ack') consumer.acks.ack(m);
      else consumer.acks.nack(m, how === 'requeue');
      return true;
    } catch (err) {
      this.#log?.warn({ err: messageOf(err) }, 'rabbitmq channel closed before the ack; the message returns to the queue');
      return false;
    }
  }

  #alive(consumer: Consumer): boolean {
    return consumer === this.#consumer && this.#session.link?.gen === consumer.gen;
  }

  /** True if this delivery may still be settled on its channel; releases its slot either way. */
  #take(delivery: Delivery): RabbitDelivery | undefined {
    if (!(delivery instanceof RabbitDelivery) || delivery.settled) return undefined;
    delivery.settled = true;
    this.#release();
    return this.#alive(delivery.consumer) ? delivery : undefined;
  }

  #drain(): void {
    const limit = this.#options?.concurrency ?? 0;
    while (this.#unsettled < limit && this.#backlog.length > 0) {
      const [m, consumer, queue] = this.#backlog.shift()!;
      if (this.#alive(consumer)) this.#dispatch(m, consumer, queue);
    }
  }

  async pause(): Promise<void> {
    this.#paused = true;
    const consumer = this.#consumer;
    if (consumer === undefined || !this.#alive(consumer)) return;
    for (const tag of consumer.tags) await consumer.ch.cancel(tag).catch(() => undefined);
  }

  async ack(delivery: Delivery, _record: TaskRecord, _options: SaveOptions): Promise<boolean> {
    const d = this.#take(delivery);
    if (d === undefined) return false;
    return this.#settleRaw(d.consumer, d.raw, 'ack');
  }

  async retry(delivery: Delivery, _record: TaskRecord, delayMs: number): Promise<boolean> {
    return this.#moveAndAck(delivery, (d) => [this.#queueTarget(d.message.queue, Math.min(delayMs, MAX_DELAY_MS)), this.#copyProps(d.raw, d.attempt, d.lost)]);
  }

  /** Back unrun: the copy carries the deliveries before this one, so it arrives as the same attempt. */
  async release(delivery: Delivery, delayMs: number): Promise<boolean> {
    return this.#moveAndAck(delivery, (d) => [this.#queueTarget(d.message.queue, Math.min(delayMs, MAX_DELAY_MS)), this.#copyProps(d.raw, d.attempt - 1, d.lost)]);
  }

  async deadLetter(delivery: Delivery, record: TaskRecord, _options: SaveOptions): Promise<boolean> {
    return this.#moveAndAck(delivery, (d) => {
      const props = this.#copyProps(d.raw, d.attempt, d.lost);
      const headers = { ...props.headers, [REASON_HEADER]: record.reason ?? 'dead-lettered', [ID_HEADER]: record.id };
      return [this.#dlxTarget, { ...props, headers }];
    });
  }

  /** Publishes a copy of the delivery where `where` says, confirmed, then acks the original. */
  async #moveAndAck(delivery: Delivery, where: (d: RabbitDelivery) => [Target, Options.Publish]): Promise<boolean> {
    if (!this.#owns(delivery)) return this.#take(delivery) !== undefined;
    const d = delivery as RabbitDelivery;
    const [target, props] = where(d);
    try {
      await this.#send(target, d.raw.content, props);
    } catch (err) {
      this.#take(delivery);
      throw err;
    }
    const owned = this.#take(delivery);
    // If the channel died meanwhile the original comes back too: a duplicate, counted the same.
    return owned !== undefined && this.#settleRaw(owned.consumer, owned.raw, 'ack');
  }

  #owns(delivery: Delivery): boolean {
    return delivery instanceof RabbitDelivery && !delivery.settled && this.#alive(delivery.consumer);
  }

  /** Dead letters, newest first, read without removing them (dead-letters.ts). */
  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const link = await this.#session.ready(Date.now() + this.#session.publishTimeoutMs);
    await this.#declarerOf(link).base();
    return readDeadLetters(link.model, this.#topo.dlq, limit, this.#settings.deadLetterScanLimit, this.#session.publishTimeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#backlog = [];
    if (!this.#started) return;
    this.#session.removeSetup(this.#onLink);
    // A recount or dead letter under way acks its original once its copy is confirmed: let it.
    if (this.#handling.size > 0) await Promise.allSettled([...this.#handling]);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (consumer !== undefined) {
      // Acks of settled deliveries first, then the close, in that order on the wire. Closing
      // returns only what is still unacked to the queue.
      if (this.#session.link?.gen === consumer.gen) consumer.acks.flush();
      await consumer.ch.close().catch(() => undefined);
    }
    this.#declarer?.d.close();
    await this.#session.release();
  }
}

function count(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : 0;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
