/**
 * The RabbitMQ broker as the app sees it: the AMQP broker (broker.ts) with the control plane
 * around it (control.ts). It sends each task's events where they happen, drops revoked messages
 * on receipt (a queued AMQP message cannot be deleted), keeps the queues the control plane paused
 * unconsumed, and fences progress on the deliveries this process runs.
 */
import type { Broker, ComponentContext, ConsumeOptions, DeadLetter, Delivery, PublishOptions, SaveOptions, TaskEventType } from '../../core/contracts.js';
import type { LoggerLike } from '../../core/logger.js';
import { TaskStatus, recordOf, type TaskMessage, type TaskRecord } from '../../core/record.js';
import type { ConsumeMessage } from 'amqplib';
import { COPY_HEADER, type RabbitBroker } from './broker.js';
import { messageOf } from './connection.js';
import type { ControlExchange } from './control-exchange.js';
import type { RabbitControl } from './control.js';

const FINAL_EVENT: Partial<Record<string, TaskEventType>> = {
  [TaskStatus.SUCCESS]: 'completed',
  [TaskStatus.ERROR]: 'failed',
  [TaskStatus.CANCEL]: 'cancelled',
  [TaskStatus.DEAD]: 'dead',
};

export class ControlledBroker implements Broker {
  readonly name: string;
  readonly records = undefined;
  readonly control: RabbitControl;
  readonly #inner: RabbitBroker;
  readonly #exchange: ControlExchange;
  #log: LoggerLike | undefined;
  #holding: Promise<void> = Promise.resolve();

  constructor(inner: RabbitBroker, control: RabbitControl, exchange: ControlExchange) {
    this.#inner = inner;
    this.name = inner.name;
    this.control = control;
    this.#exchange = exchange;
  }

  get inner(): RabbitBroker {
    return this.#inner;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#log = ctx.logger;
    await this.#inner.start(ctx);
    this.control.start(ctx);
    await this.#exchange.start(ctx.logger);
  }

  async publish(message: TaskMessage, options: PublishOptions): Promise<void> {
    // Sent before the message: a worker's `active` can come before the publish is confirmed.
    this.control.emit(options.delayMs > 0 ? 'delayed' : 'added', message, 0);
    await this.#inner.publish(message, options);
  }

  async consume(options: ConsumeOptions): Promise<void> {
    const control = this.control;
    control.onPauseChange((token) => this.#applyHolds(token));
    await control.loadPaused(options.queues);
    await this.#holding;
    control.consuming = true;
    const next = options.onDelivery;
    await this.#inner.consume({ ...options, onDelivery: (d) => this.#onDelivery(d, next) });
  }

  #applyHolds(token: string | undefined): void {
    const held = (q: string): boolean => this.control.held(q);
    this.#holding = this.#holding
      .then(() => this.#inner.hold(held))
      .then(() => {
        if (token !== undefined) this.control.applied(token);
      })
      .catch((err: unknown) => this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not apply a pause'));
  }

  /** A copy superseded by a promoted one is acked unrun (its record belongs to the promoted copy). */
  #onDelivery(d: Delivery, next: (d: Delivery) => void): void {
    const copy: unknown = (d as { raw?: ConsumeMessage }).raw?.properties.headers?.[COPY_HEADER];
    const superseded = this.control.superseded(d.message, copy);
    if (superseded === false) return this.#onCopy(d, next);
    if (superseded === true) return void this.#dropCopy(d, copy);
    superseded.then(
      (drop) => (drop ? void this.#dropCopy(d, copy) : this.#onCopy(d, next)),
      () => this.#onCopy(d, next),
    );
  }

  async #dropCopy(d: Delivery, copy: unknown): Promise<void> {
    this.#log?.debug({ taskId: d.message.id }, 'rabbitmq dropped the delayed copy of a promoted task');
    const now = Date.now();
    const record = recordOf(d.message, TaskStatus.CANCEL, d.attempt, now, { finishedAt: now, reason: 'promoted' });
    try {
      await this.#inner.ack(d, record, { ttlMs: 0 });
    } catch (err) {
      this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not ack a superseded copy');
      return; // it comes back: the mark must still drop it
    }
    // The original delayed copy (no copy id) was the one the mark was for. An earlier promoted
    // copy superseded by a second promote leaves the mark to the original.
    if (copy === undefined) await this.control.forgetPromoted(d.message.id).catch((err: unknown) => this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not forget a promote mark'));
  }

  #onCopy(d: Delivery, next: (d: Delivery) => void): void {
    const revoked = this.control.revocation(d.message);
    if (revoked === undefined) return this.#run(d, next);
    if (typeof revoked === 'string') return void this.#drop(d, revoked);
    revoked.then(
      (reason) => (reason === undefined ? this.#run(d, next) : void this.#drop(d, reason)),
      () => this.#run(d, next),
    );
  }

  #run(d: Delivery, next: (d: Delivery) => void): void {
    // A revocation heard while an earlier check read storage: from the moment it is heard, no
    // delivery of the task starts here (RabbitControl.cancel relies on it).
    const revoked = this.control.revokedNow(d.message.id);
    if (revoked !== undefined) return void this.#drop(d, revoked);
    this.control.running.set(d.message.id, d.attempt);
    this.control.emit('active', d.message, d.attempt);
    next(d);
  }

  /** A revoked message: acked unrun. Its record already says `cancel`. */
  async #drop(d: Delivery, reason: string): Promise<void> {
    this.#log?.debug({ taskId: d.message.id, reason }, 'rabbitmq dropped a revoked task on receipt');
    const now = Date.now();
    const record = recordOf(d.message, TaskStatus.CANCEL, d.attempt, now, { finishedAt: now, reason });
    await this.#inner.ack(d, record, { ttlMs: 0 }).catch((err: unknown) => this.#log?.warn({ err: messageOf(err) }, 'rabbitmq could not ack a revoked task'));
  }

  #ended(d: Delivery): void {
    const running = this.control.running;
    if (running.get(d.message.id) === d.attempt) running.delete(d.message.id);
  }

  pause(): Promise<void> {
    return this.#inner.pause();
  }

  async ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    this.#ended(delivery);
    const type = FINAL_EVENT[record.status];
    if (type !== undefined) this.control.emit(type, delivery.message, delivery.attempt, eventText(record));
    return this.#inner.ack(delivery, record, options);
  }

  async retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean> {
    this.#ended(delivery);
    this.control.emit('retrying', delivery.message, delivery.attempt, eventText(record));
    return this.#inner.retry(delivery, record, delayMs);
  }

  async release(delivery: Delivery, delayMs: number): Promise<boolean> {
    this.#ended(delivery);
    return this.#inner.release(delivery, delayMs);
  }

  async deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    this.#ended(delivery);
    this.control.emit('dead', delivery.message, delivery.attempt, eventText(record));
    return this.#inner.deadLetter(delivery, record, options);
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.#inner.deadLetters(limit);
  }

  async stop(): Promise<void> {
    await this.control.stop().catch(() => undefined);
    await this.#exchange.stop();
    await this.#inner.stop();
  }
}

function eventText(record: TaskRecord): { message: string } | undefined {
  const text = record.status === TaskStatus.CANCEL || record.status === TaskStatus.DEAD ? record.reason : record.error?.message;
  return text !== undefined ? { message: text } : undefined;
}
