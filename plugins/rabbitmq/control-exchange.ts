/**
 * The two exchanges of an app's control plane on RabbitMQ:
 *
 *   ${prefix}.${app}.control  fanout: cancel and pause requests, heard by every process of the app
 *   ${prefix}.${app}.events   topic (routing key `${type}.${queue}`): task events, cross-process
 *
 * Each listener gets a server-named exclusive auto-delete queue bound to one of them, so a process
 * hears what is sent while it listens and nothing is left behind when it goes. Both are fire and
 * forget (no confirms): a lost event or request costs what it would cost on Redis pub/sub, and the
 * state that must survive (pause, cancel) is kept elsewhere (global config, storage). Listeners
 * are bound again on every new link.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import { messageOf, type AmqpSession, type Link } from './connection.js';
import type { Topology } from './topology.js';

interface Listener {
  readonly exchange: string;
  readonly key: string;
  readonly handler: (body: unknown, routingKey: string) => void;
  /** The channel and tag of its current consumer. */
  current?: { ch: Channel; tag: string };
}

/** Events that follow an events message this soon (ms) wait for the rest of it, to go as one message. */
const EVENTS_LINGER_MS = 5;

/** A run of one queue's events is split past this many (a message stays small). */
const MAX_EVENTS_PER_MESSAGE = 256;

export class ControlExchange {
  readonly control: string;
  readonly events: string;
  readonly topo: Topology;
  readonly #session: AmqpSession;
  readonly #listeners = new Set<Listener>();
  #ch: { gen: number; ch: Channel } | undefined;
  #opening: Promise<Channel> | undefined;
  #log: LoggerLike | undefined;
  /** Events of this tick, in order, waiting for its end (sendEvent). */
  #events: Array<[type: string, queue: string, body: unknown]> = [];
  #eventsScheduled = false;
  /** When the last events message left (performance.now()). */
  #eventsSentAt = -Infinity;
  #started = false;
  #stopped = false;

  constructor(session: AmqpSession, topo: Topology) {
    this.#session = session;
    this.topo = topo;
    this.control = `${topo.base}.control`;
    this.events = `${topo.base}.events`;
  }

  async start(log: LoggerLike): Promise<void> {
    this.#log = log;
    this.#started = true;
    await this.#session.addSetup(this.#onLink);
  }

  readonly #onLink = async (link: Link): Promise<void> => {
    if (this.#stopped) return;
    await this.#channel(link);
    for (const l of this.#listeners) await this.#bind(l, link);
  };

  /** One plain channel per link for publishing and consuming; both exchanges declared on it. */
  #channel(link: Link): Promise<Channel> {
    if (this.#ch?.gen === link.gen) return Promise.resolve(this.#ch.ch);
    if (this.#opening !== undefined) return this.#opening;
    this.#opening = (async () => {
      const ch = await link.model.createChannel();
      ch.on('error', (err: unknown) => this.#log?.warn({ err: messageOf(err) }, 'rabbitmq control channel error'));
      ch.on('close', () => {
        if (this.#ch?.ch === ch) this.#ch = undefined;
      });
      await ch.assertExchange(this.control, 'fanout', { durable: true });
      await ch.assertExchange(this.events, 'topic', { durable: true });
      this.#ch = { gen: link.gen, ch };
      return ch;
    })().finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  async #ready(): Promise<{ ch: Channel; link: Link }> {
    const link = await this.#session.ready(Date.now() + this.#session.publishTimeoutMs);
    return { ch: await this.#channel(link), link };
  }

  /**
   * The ready messages of server queue `name` (a passive declare on a channel of its own: a
   * missing queue closes the channel it was asked on); 0 if the queue does not exist yet.
   */
  async readyCount(name: string): Promise<number> {
    const link = await this.#session.ready(Date.now() + this.#session.publishTimeoutMs);
    const ch = await link.model.createChannel();
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(name)).messageCount;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return 0;
      throw err;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Drops the ready messages of server queue `name` (own channel, as readyCount); 0 if it does not exist. */
  async purgeQueue(name: string): Promise<number> {
    const link = await this.#session.ready(Date.now() + this.#session.publishTimeoutMs);
    const ch = await link.model.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.checkQueue(name);
      return (await ch.purgeQueue(name)).messageCount;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return 0;
      throw err;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Sends `body` (JSON) to `exchange`; resolves once handed to the connection. */
  async publish(exchange: string, routingKey: string, body: unknown): Promise<void> {
    await this.#publishBytes(exchange, routingKey, Buffer.from(JSON.stringify(body)));
  }

  async #publishBytes(exchange: string, routingKey: string, bytes: Buffer): Promise<void> {
    const { ch } = await this.#ready();
    ch.publish(exchange, routingKey, bytes, { contentType: 'application/json' });
  }

  /**
   * Same, for the hot path: never waits and never throws (an event is best effort). False when
   * `body` is not JSON (nothing sent).
   */
  send(exchange: string, routingKey: string, body: unknown): boolean {
    let bytes: Buffer;
    try {
      bytes = Buffer.from(JSON.stringify(body));
    } catch (err) {
      this.#log?.debug({ err: messageOf(err) }, 'rabbitmq control message not sent: not JSON');
      return false;
    }
    const current = this.#ch;
    if (current !== undefined && this.#session.link?.gen === current.gen) {
      try {
        current.ch.publish(exchange, routingKey, bytes, { contentType: 'application/json' });
        return true;
      } catch {
        // channel closing: fall through to the slow path
      }
    }
    this.#publishBytes(exchange, routingKey, bytes).catch((err: unknown) => this.#log?.debug({ err: messageOf(err) }, 'rabbitmq control message not sent'));
    return true;
  }

  /**
   * A task event, on the events exchange. The events of one tick leave together once the tick's
   * synchronous work is done: a run of consecutive events of one queue is one message whose body
   * is their JSON array (a lone event stays a plain object), with the routing key
   * `${type}.${queue}` when they share a type and `mixed.${queue}` when not. A fast task's
   * `active` and `completed`, or a burst of deliveries or enqueues, then cost one publish instead
   * of one per event (each costs the client its encoding and RabbitMQ its routing, paid even
   * when nobody listens). Within EVENTS_LINGER_MS of the last events message the next waits for
   * the rest of that time: one task at a time (c=1) is one tick per task, and sent tick by tick
   * its events cost RabbitMQ as much routing as its task. The order of one process's events is kept.
   */
  sendEvent(type: string, queue: string, body: unknown): void {
    this.#events.push([type, queue, body]);
    if (this.#eventsScheduled) return;
    this.#eventsScheduled = true;
    // A microtask that schedules a tick: the tick runs once the microtasks queued meanwhile are
    // done (the handler of a fast task, its settle, its ack), so its events join them. And the
    // acks written in those microtasks reach amqplib's writer first: the server reads the ack,
    // and sends the next delivery, before it routes the events.
    const wait = this.#eventsSentAt + EVENTS_LINGER_MS - performance.now();
    if (wait > 0) setTimeout(this.#flushEvents, Math.ceil(wait));
    else queueMicrotask(() => process.nextTick(this.#flushEvents));
  }

  readonly #flushEvents = (): void => {
    this.#eventsScheduled = false;
    const events = this.#events;
    if (events.length === 0) return;
    this.#events = [];
    this.#eventsSentAt = performance.now();
    for (let i = 0; i < events.length; ) {
      const [type, queue] = events[i]!;
      let same = true;
      let j = i + 1;
      for (; j < events.length && j - i < MAX_EVENTS_PER_MESSAGE && events[j]![1] === queue; j++) same &&= events[j]![0] === type;
      const key = `${same ? type : 'mixed'}.${queue}`;
      const sent = this.send(this.events, key, j - i === 1 ? events[i]![2] : events.slice(i, j).map((e) => e[2]));
      // One event that is not JSON (a progress value, say) must not take its neighbours with it.
      if (!sent) for (let k = i; k < j && j - i > 1; k++) this.send(this.events, `${events[k]![0]}.${queue}`, events[k]![2]);
      i = j;
    }
  };

  /** Calls `handler` for every message sent to `exchange` (matching `key`) from now on. */
  async listen(exchange: string, key: string, handler: (body: unknown, routingKey: string) => void): Promise<() => Promise<void>> {
    if (!this.#started) throw new QTasksError(ErrorCodes.NOT_STARTED, 'rabbitmq: the control plane is used before the broker started');
    const listener: Listener = { exchange, key, handler };
    this.#listeners.add(listener);
    const { link } = await this.#ready();
    await this.#bind(listener, link);
    return async () => {
      this.#listeners.delete(listener);
      const c = listener.current;
      listener.current = undefined;
      if (c !== undefined) await c.ch.cancel(c.tag).catch(() => undefined);
    };
  }

  async #bind(l: Listener, link: Link): Promise<void> {
    const ch = await this.#channel(link);
    if (l.current?.ch === ch) return;
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await ch.bindQueue(queue, l.exchange, l.key);
    const { consumerTag } = await ch.consume(
      queue,
      (m: ConsumeMessage | null) => {
        if (m === null) return;
        let body: unknown;
        try {
          body = JSON.parse(m.content.toString());
        } catch {
          return; // not ours
        }
        l.handler(body, m.fields.routingKey);
      },
      { noAck: true },
    );
    l.current = { ch, tag: consumerTag };
  }

  async stop(): Promise<void> {
    // Events of this tick go out before the channel closes.
    this.#flushEvents();
    this.#stopped = true;
    this.#session.removeSetup(this.#onLink);
    this.#listeners.clear();
    const c = this.#ch;
    this.#ch = undefined;
    // Exclusive queues go with the channel.
    if (c !== undefined) await c.ch.close().catch(() => undefined);
  }
}
