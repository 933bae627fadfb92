/**
 * One worker's consumer loop. Everything goes through one script call at a time (STEP): it
 * settles the batch of deliveries finished since the last call and claims up to the free slots,
 * so a busy worker costs about one round trip per batch. When a claim comes back short, the
 * worker blocks on its queues' wake-up markers (BZPOPMIN on its own connection) until a
 * producer marks new work, a delayed task or an expired lease falls due, or the cap passes.
 */
import type { ConsumeOptions, Delivery } from '../../core/contracts.js';
import { ConnectionClosedError, messageOf } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import { validateMessage, type TaskMessage } from '../../core/record.js';
import type { RedisClient, RedisConnection } from './connection.js';

export type OpKind = 'a' | 'r' | 'd' | 'x';

interface Lease {
  readonly id: string;
  readonly attempt: number;
}

interface Op {
  readonly kind: OpKind;
  readonly lease: Lease;
  readonly key: Delivery | string;
  readonly record: string;
  readonly num: number;
  readonly extra: string;
  resolve(owned: boolean): void;
  reject(err: Error): void;
}

export interface ConsumerSettings {
  readonly leaseMs: number;
  /** Longest single block, ms: bounds how late an idle worker notices a missed wake-up. */
  readonly blockMs: number;
}

const MAX_OPS_PER_STEP = 500;

export class Consumer {
  readonly #conn: RedisConnection;
  readonly #opts: ConsumeOptions;
  readonly #settings: ConsumerSettings;
  readonly #log: LoggerLike;
  readonly #queueArgs: string[];
  readonly #wakeKeys: string[];
  /** Unsettled deliveries (malformed ones by a string key), with the lease each holds. */
  readonly #leases = new Map<Delivery | string, Lease>();
  #ops: Op[] = [];
  #stepping: Promise<void> | undefined;
  #again = false;
  #mayHaveWork = true;
  #blocking = false;
  #blocker: RedisClient | undefined;
  #paused = false;
  #stopped = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  /** Server time of the next delayed task or lease expiry, and the server/local clock offset. */
  #nextAt = -1;
  #skew = 0;
  readonly #onReady = (): void => this.#wake('reconnected');

  constructor(conn: RedisConnection, opts: ConsumeOptions, settings: ConsumerSettings, log: LoggerLike) {
    this.#conn = conn;
    this.#opts = opts;
    this.#settings = settings;
    this.#log = log;
    this.#queueArgs = [String(opts.queues.length), ...opts.queues];
    this.#wakeKeys = opts.queues.map((q) => conn.keys.wake(q));
  }

  async start(): Promise<void> {
    this.#blocker = await this.#conn.duplicate('block');
    // After a reconnect, look for work at once rather than trusting a blocked call to come back.
    this.#blocker.on('ready', this.#onReady);
    this.#conn.client.on('ready', this.#onReady);
    const every = Math.max(50, Math.floor(this.#settings.leaseMs / 3));
    this.#renewTimer = setInterval(() => void this.#renew(), every);
    this.#renewTimer.unref();
    this.#kick();
  }

  pause(): void {
    this.#paused = true;
  }

  async stop(): Promise<void> {
    this.#paused = true;
    this.#stopped = true;
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#conn.client.off('ready', this.#onReady);
    // Settlements already handed to us still go out; unsettled deliveries return at lease expiry.
    if (this.#ops.length > 0) this.#kick();
    await this.#stepping;
    for (const op of this.#ops.splice(0)) op.reject(new ConnectionClosedError('redis broker stopped'));
    const blocker = this.#blocker;
    this.#blocker = undefined;
    if (blocker !== undefined) {
      blocker.off('ready', this.#onReady);
      await this.#conn.close(blocker);
    }
  }

  /** Queues a settlement for the next step; resolves with whether this delivery still owned the task. */
  settle(kind: OpKind, delivery: Delivery, record: string, num: number, extra = ''): Promise<boolean> {
    const lease = this.#leases.get(delivery);
    if (lease === undefined) return Promise.resolve(false);
    return this.#queue(kind, delivery, lease, record, num, extra);
  }

  #queue(kind: OpKind, key: Delivery | string, lease: Lease, record: string, num: number, extra: string): Promise<boolean> {
    if (this.#stopped && this.#stepping === undefined) return Promise.reject(new ConnectionClosedError('redis broker stopped'));
    return new Promise<boolean>((resolve, reject) => {
      this.#ops.push({ kind, key, lease, record, num, extra, resolve, reject });
      this.#kick();
    });
  }

  #wake(why: string): void {
    if (why === 'reconnected') this.#log.debug({}, 'redis consumer: reconnected, looking for work');
    this.#mayHaveWork = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#stepping !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#retryTimer !== undefined) return;
    this.#stepping = this.#loop().finally(() => {
      this.#stepping = undefined;
      if (this.#again) this.#kick();
      else this.#idle();
    });
  }

  #free(ops: readonly Op[]): number {
    if (this.#paused) return 0;
    let settling = 0;
    for (const op of ops) if (this.#leases.has(op.key)) settling++;
    return Math.max(0, this.#opts.concurrency - this.#leases.size + settling);
  }

  async #loop(): Promise<void> {
    for (;;) {
      this.#again = false;
      const ops = this.#ops.splice(0, MAX_OPS_PER_STEP);
      const free = this.#free(ops);
      const claim = this.#mayHaveWork ? free : 0;
      if (ops.length === 0 && claim === 0) return;
      let reply: unknown[];
      try {
        reply = (await this.#conn.run('qtasksStep', this.#conn.keys.leases, this.#conn.keys.base, this.#settings.leaseMs, claim, ...this.#queueArgs, ...encodeOps(ops))) as unknown[];
      } catch (err) {
        this.#ops.unshift(...ops);
        this.#failed(err);
        return;
      }
      this.#failures = 0;
      const flags = String(reply[0]);
      this.#skew = Number(reply[1]) - Date.now();
      this.#nextAt = Number(reply[2]);
      for (let k = 0; k < ops.length; k++) {
        const op = ops[k]!;
        this.#leases.delete(op.key);
        op.resolve(flags[k] === '1');
      }
      const claimed = (reply.length - 3) / 3;
      // A short claim means the queues are drained; with no slots we learned nothing.
      if (claim > 0) this.#mayHaveWork = claimed === claim;
      for (let j = 3; j < reply.length; j += 3) this.#deliver(String(reply[j]), Number(reply[j + 1]), String(reply[j + 2]));
      if (!this.#again && this.#ops.length === 0 && !(this.#mayHaveWork && this.#free([]) > 0)) return;
    }
  }

  #deliver(id: string, attempt: number, raw: string): void {
    const lease: Lease = { id, attempt };
    let message: unknown;
    let problem: string | undefined;
    try {
      message = JSON.parse(raw);
      problem = validateMessage(message);
      if (problem === undefined && (message as TaskMessage).id !== id) problem = 'message id does not match its entry';
    } catch (err) {
      problem = `not JSON (${messageOf(err)})`;
    }
    if (problem !== undefined) {
      // Garbage where a task should be: dead-letter it through the same fenced step, keep going.
      const key = `malformed:${id}:${attempt}`;
      this.#leases.set(key, lease);
      this.#log.error({ taskId: id, reason: problem }, 'malformed message dead-lettered');
      const entry = JSON.stringify({ id, reason: `malformed message: ${problem}`, payload: raw });
      void this.#queue('x', key, lease, '', 0, entry).catch(() => undefined);
      return;
    }
    const delivery: Delivery = { message: message as TaskMessage, attempt };
    this.#leases.set(delivery, lease);
    try {
      this.#opts.onDelivery(delivery);
    } catch (err) {
      this.#log.error({ err, taskId: id }, 'onDelivery threw; the task returns after its lease');
    }
  }

  #failed(err: unknown): void {
    if (this.#stopped) {
      for (const op of this.#ops.splice(0)) op.reject(new ConnectionClosedError('redis broker', { cause: err }));
      return;
    }
    this.#failures++;
    const delay = Math.min(2_000, 50 * 2 ** Math.min(this.#failures, 6));
    this.#log.warn({ err: messageOf(err), retryInMs: delay }, 'redis consumer step failed; retrying');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#mayHaveWork = true;
      this.#kick();
    }, delay);
  }

  /** Nothing to send and nothing claimable: block until a marker, a due time, or the cap. */
  #idle(): void {
    if (this.#blocking || this.#paused || this.#retryTimer !== undefined || this.#mayHaveWork) return;
    if (this.#free([]) === 0) return;
    const blocker = this.#blocker;
    if (blocker === undefined) return;
    let waitMs = this.#settings.blockMs;
    if (this.#nextAt >= 0) waitMs = Math.min(waitMs, this.#nextAt - (Date.now() + this.#skew) + 1);
    if (waitMs <= 0) {
      this.#wake('due');
      return;
    }
    this.#blocking = true;
    // If the blocked call does not come back (a half-open socket), recycle the connection.
    const watchdog = setTimeout(() => {
      this.#log.warn({ waitMs }, 'blocked read overdue; reconnecting its connection');
      blocker.disconnect(true);
      this.#wake('watchdog');
    }, waitMs + 5_000);
    watchdog.unref();
    blocker
      .bzpopmin(...this.#wakeKeys, Math.max(0.01, waitMs / 1000).toFixed(3))
      .then(
        () => {
          this.#failures = 0;
          return 0;
        },
        (err: unknown) => {
          if (this.#stopped) return 0;
          this.#failures++;
          const delay = Math.min(2_000, 50 * 2 ** Math.min(this.#failures, 6));
          this.#log.warn({ err: messageOf(err), retryInMs: delay }, 'blocking read failed; retrying');
          return delay;
        },
      )
      .then(async (delay) => {
        clearTimeout(watchdog);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        this.#blocking = false;
        if (!this.#stopped) this.#wake('marker');
      });
  }

  async #renew(): Promise<void> {
    if (this.#leases.size === 0 || this.#stopped) return;
    const args: Array<string | number> = [];
    for (const lease of this.#leases.values()) args.push(lease.id, lease.attempt);
    try {
      await this.#conn.run('qtasksRenew', this.#conn.keys.leases, this.#conn.keys.base, this.#settings.leaseMs, ...args);
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'lease renewal failed');
    }
  }
}

function encodeOps(ops: readonly Op[]): Array<string | number> {
  const out: Array<string | number> = [ops.length];
  for (const op of ops) out.push(op.kind, op.lease.id, op.lease.attempt, op.record, op.num, op.extra);
  return out;
}
