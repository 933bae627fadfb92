/**
 * Acks for one consumer channel, coalesced. A settled delivery is acked on the next turn of the
 * event loop, or at once when no other delivery of the channel is still running; when the oldest
 * outstanding deliveries are all settled, one `basic.ack` with `multiple` covers them (no-op
 * tasks finish in delivery order, so most of a burst becomes one frame instead of one per task). Deliveries
 * settled out of order behind a still-running one are acked one by one in the same flush, so a
 * slow task never holds the others' prefetch slots.
 *
 * Every ack still happens only after the kernel settled the delivery (outcome stored); it is just
 * written a moment later. Delivery tags grow along one channel, so arrival order is tag order.
 */
import type { Channel, ConsumeMessage } from 'amqplib';

type State = 'open' | 'ack' | 'done';

export class AckBatcher {
  readonly #ch: Channel;
  readonly #onError: (err: unknown) => void;
  readonly #order: ConsumeMessage[] = [];
  readonly #state = new Map<number, State>();
  #scheduled = false;
  /** Deliveries received and not yet acked or nacked. */
  #open = 0;
  /** Acks waiting for the next flush. */
  #pending = 0;

  constructor(ch: Channel, onError: (err: unknown) => void) {
    this.#ch = ch;
    this.#onError = onError;
  }

  /** Every message the channel delivers, in arrival order. */
  received(m: ConsumeMessage): void {
    this.#order.push(m);
    this.#state.set(m.fields.deliveryTag, 'open');
    this.#open++;
  }

  ack(m: ConsumeMessage): void {
    if (this.#state.get(m.fields.deliveryTag) !== 'open') return;
    this.#state.set(m.fields.deliveryTag, 'ack');
    this.#open--;
    this.#pending++;
    // Nothing else runs: waiting for the end of the turn gains no batching, only delay (the server
    // holds the next deliveries until it sees these acks). A lone ack too: amqplib writes a turn's
    // frames in one immediate, and an ack flushed from an immediate of ours missed it and left in
    // a second socket write one loop turn later (at concurrency 1, two writes per task, not one).
    if (this.#open === 0) {
      this.#flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Nacks go out at once (rare: malformed or unrecountable messages). Throws on a closed channel. */
  nack(m: ConsumeMessage, requeue: boolean): void {
    if (this.#state.get(m.fields.deliveryTag) !== 'open') return;
    this.#ch.nack(m, false, requeue);
    this.#state.set(m.fields.deliveryTag, 'done');
    this.#open--;
  }

  /**
   * Writes every ack still waiting for its turn, now. Called before the channel is closed on
   * purpose: closing first would return settled (stored, replied) deliveries to the queue, and
   * without a storage that remembers outcomes they would run again.
   */
  flush(): void {
    if (this.#pending > 0) this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    this.#pending = 0;
    const order = this.#order;
    const state = this.#state;
    let upTo: ConsumeMessage | undefined;
    let n = 0;
    while (n < order.length) {
      const s = state.get(order[n]!.fields.deliveryTag);
      if (s === 'open') break;
      if (s === 'ack') upTo = order[n];
      state.delete(order[n]!.fields.deliveryTag);
      n++;
    }
    order.splice(0, n);
    try {
      // `multiple` acks every outstanding delivery up to this tag; nacked ones are no longer outstanding.
      if (upTo !== undefined) this.#ch.ack(upTo, true);
      for (let i = 0; i < order.length; i++) {
        const m = order[i]!;
        const s = state.get(m.fields.deliveryTag);
        if (s === 'open') continue;
        if (s === 'ack') this.#ch.ack(m);
        state.delete(m.fields.deliveryTag);
        order.splice(i--, 1);
      }
    } catch (err) {
      // The channel closed: RabbitMQ returns everything unacked, and redelivery takes it from there.
      this.#onError(err);
    }
  }
}
