/**
 * One worker's consumer loop. Everything goes through one script (STEP): a call settles the batch
 * of deliveries finished since the last call and claims up to the free slots, so a busy worker
 * costs about one round trip per batch. When a claim comes back short, the worker blocks on its
 * queues' wake-up markers (BZPOPMIN on its own connection) until a producer marks new work, a
 * delayed task or an expired lease falls due, or the cap passes.
 */
import type { ConsumeOptions, Delivery } from '../../core/contracts.js';
import { ConnectionClosedError, messageOf } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import { validateMessage, type TaskMessage } from '../../core/record.js';
import type { RedisClient, RedisConnection } from './connection.js';
import { LARGE_MESSAGE } from './large.js';
import type { Keys } from './keys.js';
import { rateWindowMs } from './limiter-lua.js';

export type OpKind = 'a' | 'k' | 'r' | 'b' | 'd' | 'x';

interface Lease {
  readonly id: string;
  /** '<deliveries before this one>:<id>': the member of the leases ZSET, the fencing token. */
  readonly member: string;
  /** Its message is at least LARGE_MESSAGE characters: its final record is stored without args (kind 'k'). */
  readonly large?: true;
}

interface Op {
  readonly kind: OpKind;
  readonly lease: Lease;
  readonly key: Delivery | string;
  readonly record: string;
  readonly num: number;
  readonly extra: string;
  /** Kind d: the delivery's message, the dead letter's payload when no job string is stored. */
  readonly payload?: string;
  /** '<status>|<queue byte length>|<queue><name>' of the record (empty for a malformed entry): the index and event of the op. */
  readonly about: string;
  resolve(owned: boolean): void;
  reject(err: Error): void;
}

export interface ConsumerSettings {
  readonly leaseMs: number;
  /** Longest single block, ms: bounds how late an idle worker notices a missed wake-up. */
  readonly blockMs: number;
  /** A task this consumer holds has a cancel request (found at lease renewal). */
  readonly onCancelRequest?: (id: string, reason: string) => void;
}

const MAX_OPS_PER_STEP = 500;
/**
 * Step calls in flight at once, each claiming up to concurrency / LANES. With two, Node runs one
 * batch while Redis settles the previous one and claims the next: processing went from ~50k to
 * ~58k tasks/s here. A claim counts the slots of settlements still in flight as free (#sending);
 * without that the lanes split into settle-only and claim-only steps and gained nothing.
 */
const LANES = 2;

/**
 * The slots of one worker shared by several consumers (placement 'queue': one consumer per queue,
 * each on its queue's slot). A consumer counts every member's held slots as taken; one that found
 * none free is woken when another frees some.
 */
export class SlotPool {
  readonly concurrency: number;
  readonly members: Consumer[] = [];

  constructor(concurrency: number) {
    this.concurrency = concurrency;
  }

  used(): number {
    let n = 0;
    for (const m of this.members) n += m.used();
    return n;
  }

  /** Where the next round of wake-ups starts: each starved consumer gets to claim first in turn. */
  #turn = 0;

  freed(by: Consumer): void {
    const n = this.members.length;
    this.#turn = (this.#turn + 1) % n;
    for (let k = 0; k < n; k++) {
      const m = this.members[(this.#turn + k) % n]!;
      if (m !== by) m.slotsFreed();
    }
  }
}

export class Consumer {
  readonly #conn: RedisConnection;
  /** The keys of the queues consumed: the app's, or one queue's (placement 'queue'). */
  readonly #keys: Keys;
  readonly #pool: SlotPool | undefined;
  /** Found no free slot in the pool: woken when another consumer of the pool frees one. */
  #starved = false;
  readonly #opts: ConsumeOptions;
  readonly #settings: ConsumerSettings;
  readonly #log: LoggerLike;
  readonly #queueArgs: string[];
  readonly #fused: string;
  /** STEP's fused argument asking the claim for the heads of job strings only (see #large). */
  readonly #fusedHeads: string;
  /**
   * The last claim brought large messages (mean length LARGE_MESSAGE or more): the next claims read
   * only the heads of the job strings in the script and the strings themselves with a plain MGET
   * (one more round trip per claim; no pass of Lua's string hash over each message).
   */
  #large = false;
  /** STEP's last argument: the queue limits its claim holds ('' none; layout in limiter-lua.ts). */
  readonly #limits: string;
  readonly #wakeKeys: string[];
  /** Unsettled deliveries (malformed ones by a string key), with the lease each holds. */
  readonly #leases = new Map<Delivery | string, Lease>();
  #ops: Op[] = [];
  /** Release ops ('b') among #ops: a step that carries one claims nothing (see #kick). */
  #releases = 0;
  /** After giving a task back, this consumer claims nothing until the timer fires, so another worker gets it. */
  #coolUntil = 0;
  #coolTimer: NodeJS.Timeout | undefined;
  readonly #inflight = new Set<Promise<void>>();
  /** Slots promised to claims still in flight. */
  #reserved = 0;
  /** Deliveries whose settlement is in a step still in flight: done running, so their slots are free. */
  #sending = 0;
  #kickScheduled = false;
  #mayHaveWork = true;
  /** The last claim came back full: a backlog, so a second step may claim while one is in flight. */
  #backlog = false;
  /** Wake-ups so far: a short claim sent before the latest one must not cancel it. */
  #wakes = 0;
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
  /**
   * Fires at the next due time while idle. Redis checks a blocked call's timeout only when its
   * event loop wakes (about ten times a second when idle), so a due time ending the block ran
   * 10-100 ms late; a local timer starts the claim within a millisecond or two of it.
   */
  #dueTimer: NodeJS.Timeout | undefined;
  #dueAt = -1;
  readonly #onReady = (): void => this.#wake('reconnected');

  /** `fused`: STEP's fused-and-retention argument ('<1 or empty>|<keep success>|<error>|<cancel>|<dead>'). */
  constructor(conn: RedisConnection, opts: ConsumeOptions, settings: ConsumerSettings, log: LoggerLike, fused: string, keys: Keys = conn.keys, pool?: SlotPool) {
    this.#conn = conn;
    this.#keys = keys;
    this.#pool = pool;
    pool?.members.push(this);
    this.#opts = opts;
    this.#settings = settings;
    this.#log = log;
    this.#queueArgs = [String(opts.queues.length), ...opts.queues];
    this.#fused = `${fused}|`;
    this.#fusedHeads = `${fused}|1`;
    this.#limits = limitsArg(opts);
    this.#wakeKeys = opts.queues.map((q) => keys.wake(q));
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
    if (this.#coolTimer !== undefined) clearTimeout(this.#coolTimer);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#clearDue();
    this.#conn.client.off('ready', this.#onReady);
    // Settlements already handed to us still go out; unsettled deliveries return at lease expiry.
    if (this.#ops.length > 0) this.#kick();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    for (const op of this.#ops.splice(0)) op.reject(new ConnectionClosedError('redis broker stopped'));
    const blocker = this.#blocker;
    this.#blocker = undefined;
    if (blocker !== undefined) {
      blocker.off('ready', this.#onReady);
      await this.#conn.close(blocker);
    }
  }

  /**
   * Gives an unrun delivery back to its queue at once, and claims nothing for `delayMs`: the
   * task goes to an idle worker woken by its queue's marker, or to whoever claims next (a
   * delayed task would fall due for every worker at once, and this one, knowing when, would
   * often win it back).
   */
  release(delivery: Delivery, delayMs: number): Promise<boolean> {
    const until = Date.now() + delayMs;
    if (delayMs > 0 && until > this.#coolUntil) {
      this.#coolUntil = until;
      if (this.#coolTimer !== undefined) clearTimeout(this.#coolTimer);
      // The timer, not the clock, ends the pause (a timer may fire a millisecond early).
      this.#coolTimer = setTimeout(() => {
        this.#coolTimer = undefined;
        this.#coolUntil = 0;
        this.#wake('cooled');
      }, delayMs);
      this.#coolTimer.unref();
    }
    // No status in `about`: a hand-back moves the task back among the waiting ones, with no event.
    const { queue, name } = delivery.message;
    return this.settle('b', delivery, '', 0, `|${Buffer.byteLength(queue)}|${queue}${name}`);
  }

  /** Whether the delivery's message is large (see Lease.large). */
  isLarge(delivery: Delivery): boolean {
    return this.#leases.get(delivery)?.large === true;
  }

  /** Queues a settlement for the next step; resolves with whether this delivery still owned the task. */
  settle(kind: OpKind, delivery: Delivery, record: string, num: number, about: string, extra = ''): Promise<boolean> {
    const lease = this.#leases.get(delivery);
    if (lease === undefined) return Promise.resolve(false);
    // Dead letters are rare: the message rides along in case its job string is gone (a poison entry).
    return this.#queue(kind, delivery, lease, record, num, extra, about, kind === 'd' ? JSON.stringify(delivery.message) : undefined);
  }

  #queue(kind: OpKind, key: Delivery | string, lease: Lease, record: string, num: number, extra: string, about: string, payload?: string): Promise<boolean> {
    if (this.#stopped && this.#inflight.size === 0) return Promise.reject(new ConnectionClosedError('redis broker stopped'));
    if (kind === 'b') this.#releases++;
    return new Promise<boolean>((resolve, reject) => {
      this.#ops.push({ kind, key, lease, record, num, extra, about, ...(payload !== undefined ? { payload } : {}), resolve, reject });
      // Every delivery we hold has settled (a burst is done): waiting for the end of the turn
      // batches nothing more, it only delays the next claim. A lone settlement still waits.
      if (this.#ops.length > 1 && this.#ops.length >= this.#leases.size - this.#sending && !this.#kickScheduled) this.#kick();
      else this.#kickSoon();
    });
  }

  #wake(why: string): void {
    if (why === 'reconnected') this.#log.debug({}, 'redis consumer: reconnected, looking for work');
    this.#wakes++;
    this.#mayHaveWork = true;
    this.#kick();
  }

  /**
   * Deferred so settlements of one tick go out together: with a step in flight, to the end of
   * this turn of the event loop (its I/O callbacks add more); with none, only past this turn's
   * microtasks (a lone settlement of an idle worker then does not wait for the loop's poll phase).
   */
  #kickSoon(): void {
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    const run = (): void => {
      this.#kickScheduled = false;
      this.#kick();
    };
    if (this.#inflight.size === 0) process.nextTick(run);
    else setImmediate(run);
  }

  /** Starts steps while a lane is free and there is something to send or claim. */
  #kick(): void {
    if (this.#retryTimer !== undefined) return;
    const perLane = Math.max(1, Math.ceil(this.#opts.concurrency / LANES));
    while (this.#inflight.size < LANES) {
      const ops = grouped(this.#ops.splice(0, MAX_OPS_PER_STEP));
      // After a wake-up one claim goes first; a second lane opens only once a claim came back full,
      // so an idle worker woken for one task sends one step, not two.
      const claiming = this.#mayHaveWork && (this.#inflight.size === 0 || this.#backlog);
      const settling = this.#settling(ops);
      // A task given back goes to the other workers first: the step that returns it to its queue
      // claims nothing, so this worker cannot take it straight back (a woken idle worker takes it).
      const released = this.#releases > 0 ? countReleases(ops) : 0;
      this.#releases -= released;
      const claim = claiming && released === 0 ? Math.min(this.#free(settling), perLane) : 0;
      if (ops.length === 0 && claim === 0) break;
      const step: Promise<void> = this.#step(ops, claim, settling).finally(() => {
        this.#inflight.delete(step);
        // Settled deliveries and the unused part of a claim are slots the pool's others may take.
        this.#pool?.freed(this);
        this.#kick();
        if (this.#inflight.size === 0) this.#idle();
      });
      this.#inflight.add(step);
    }
    // Work to look for but no slot: the pool's others hold them all; one of them wakes us.
    if (this.#pool !== undefined) this.#starved = this.#inflight.size === 0 && this.#mayHaveWork && this.#free() === 0;
  }

  /** Free slots, counting the deliveries that `settling` ops (about to be sent) will release. */
  #free(settling = 0): number {
    if (this.#paused || this.#coolTimer !== undefined) return 0;
    if (this.#pool !== undefined) return Math.max(0, this.#pool.concurrency - this.#pool.used() + settling);
    return Math.max(0, this.#opts.concurrency - this.#leases.size + settling + this.#sending - this.#reserved);
  }

  /** Slots this consumer holds or has promised (SlotPool). */
  used(): number {
    return this.#leases.size - this.#sending + this.#reserved;
  }

  /** Another consumer of the pool freed slots: one that went idle for want of a slot looks for work again. */
  slotsFreed(): void {
    if (!this.#starved || this.#stopped) return;
    this.#starved = false;
    this.#wake('slots');
  }

  /** How many of `ops` settle a delivery this consumer still holds. */
  #settling(ops: readonly Op[]): number {
    let n = 0;
    for (const op of ops) if (this.#leases.has(op.key)) n++;
    return n;
  }

  /** `sending`: how many of `ops` settle a held delivery (counted by the caller for the claim). */
  async #step(ops: Op[], claim: number, sending: number): Promise<void> {
    // Steps run in order on the server: a claim sent after this step sees its settlements done.
    const wakes = this.#wakes;
    this.#reserved += claim;
    this.#sending += sending;
    let reply: unknown[];
    try {
      const keys = this.#keys;
      const args: Array<string | number> = [keys.leases, keys.base, this.#settings.leaseMs, claim, ...this.#queueArgs, this.#large ? this.#fusedHeads : this.#fused];
      encodeOps(args, ops);
      args.push(this.#limits);
      reply = (await this.#conn.runArgs('qtasksStep', args)) as unknown[];
    } catch (err) {
      this.#reserved -= claim;
      this.#ops.unshift(...ops);
      this.#releases += countReleases(ops);
      this.#failed(err);
      return;
    } finally {
      this.#sending -= sending;
    }
    this.#received(reply, ops, claim, wakes);
    // The claim's slots stay reserved until its deliveries hold them, past #fetchCut's await:
    // freed before it, another lane or consumer could claim them too (seen as 3 tasks running
    // at concurrency 2 with one consumer per queue).
    try {
      if ((reply.length - 4) / 2 > 0) await this.#fetchCut(reply);
    } finally {
      this.#reserved -= claim;
    }
    this.#deliverAll(reply);
  }

  /** The settlements' outcomes and what the claim learned (due time, backlog). */
  #received(reply: unknown[], ops: Op[], claim: number, wakes: number): void {
    this.#failures = 0;
    const flags = String(reply[0]);
    this.#skew = Number(reply[1]) - Date.now();
    // A step that claims nothing reports no due time (-1): keep the one we know.
    if (claim > 0) this.#nextAt = Number(reply[2]);
    for (let k = 0; k < ops.length; k++) {
      const op = ops[k]!;
      this.#leases.delete(op.key);
      op.resolve(flags[k] === '1');
    }
    const claimed = (reply.length - 4) / 2;
    // A short claim means the queues were drained when it ran; with no slots we learned nothing.
    // A wake-up (a marker consumed, a reconnect) after this step was sent may mean work that
    // arrived after it ran: then look again instead of blocking on a marker already taken.
    if (claim > 0) {
      this.#backlog = claimed === claim;
      this.#mayHaveWork = this.#backlog || this.#wakes !== wakes;
    }
  }

  /** Delivers the claimed entries of `reply` (their job strings read whole by now). */
  #deliverAll(reply: unknown[]): void {
    const claimed = (reply.length - 4) / 2;
    // Lost counts per claimed member, or '' (none lost: the usual case).
    const lost = String(reply[3]);
    const counts = lost === '' ? undefined : lost.split(',');
    let chars = 0;
    for (let j = 4, n = 0; j + 1 < reply.length; j += 2, n++) {
      const got = reply[j + 1];
      if (got === undefined) continue; // see #fetchCut
      const job = String(got); // a Buffer from #fetchCut decodes here
      chars += job.length;
      this.#deliver(String(reply[j]), job, counts === undefined ? 0 : Number(counts[n]));
    }
    if (claimed > 0) this.#large = chars / claimed >= LARGE_MESSAGE;
  }

  /** Job strings the claim returned as '~' (heads mode): read whole with one MGET, in place in `reply`. */
  async #fetchCut(reply: unknown[]): Promise<void> {
    const at: number[] = [];
    const keys: string[] = [];
    for (let j = 4; j + 1 < reply.length; j += 2) {
      if (reply[j + 1] !== '~') continue;
      const member = String(reply[j]);
      at.push(j + 1);
      keys.push(this.#keys.job(member.slice(member.indexOf(':', 16) + 1)));
    }
    if (keys.length === 0) return;
    let jobs: Array<Buffer | null>;
    try {
      // As bytes: decoded one by one as they are delivered, each string dies young instead of
      // all of them surviving a young-generation collection together
      jobs = await this.#conn.call('read claimed messages', (c) => c.mgetBuffer(...keys));
    } catch (err) {
      // Leased to us but unread: not delivered here, they return when their leases expire (as
      // from a worker that died holding them; each counts one lost delivery).
      for (const k of at) reply[k] = undefined;
      this.#log.warn({ err }, 'redis consumer: could not read claimed messages; they return after their lease');
      return;
    }
    at.forEach((k, n) => (reply[k] = jobs[n] ?? ''));
  }

  /**
   * `entry` is a ready member '<16 hex digits><deliveries so far>:<id>' and `job` its job string
   * '<runAt>#<head>|<message JSON>' (or, for an entry written before messages were stored once,
   * '' with the message after a newline in `entry`); `lost`: how many of those deliveries were lost.
   */
  #deliver(entry: string, job: string, lost: number): void {
    const colon = entry.indexOf(':', 16);
    const nl = job === '' ? entry.indexOf('\n', colon + 1) : entry.length;
    const id = entry.slice(colon + 1, nl);
    const tried = Number(entry.slice(16, colon));
    const raw = job === '' ? entry.slice(nl + 1) : job.slice(job.indexOf('|') + 1);
    const lease: Lease = raw.length >= LARGE_MESSAGE ? { id, member: entry.slice(16, nl), large: true } : { id, member: entry.slice(16, nl) };
    const attempt = tried + 1;
    let message: unknown;
    let problem: string | undefined;
    if (!Number.isInteger(tried) || tried < 0) problem = 'unreadable delivery count in its ready entry';
    else {
      try {
        message = JSON.parse(raw);
        problem = validateMessage(message);
        if (problem === undefined && (message as TaskMessage).id !== id) problem = 'message id does not match its entry';
      } catch (err) {
        problem = `not JSON (${messageOf(err)})`;
      }
    }
    if (problem !== undefined) {
      // Garbage where a task should be: dead-letter it through the same fenced step, keep going.
      const key = `malformed:${lease.member}`;
      this.#leases.set(key, lease);
      this.#log.error({ taskId: id, reason: problem }, 'malformed message dead-lettered');
      const entryJson = JSON.stringify({ id, reason: `malformed message: ${problem}`, payload: raw });
      // The queue it was claimed from, when this consumer has one: the script moves its running count back.
      const only = this.#queueArgs.length === 2 ? this.#queueArgs[1]! : '';
      void this.#queue('x', key, lease, '', 0, entryJson, `|${Buffer.byteLength(only)}|${only}`).catch(() => undefined);
      return;
    }
    const delivery: Delivery = lost > 0 ? { message: message as TaskMessage, attempt, lost } : { message: message as TaskMessage, attempt };
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
    // With two lanes both steps may fail on one outage: one retry is enough.
    if (this.#retryTimer !== undefined) return;
    this.#failures++;
    const delay = Math.min(2_000, 50 * 2 ** Math.min(this.#failures, 6));
    this.#log.warn({ err: messageOf(err), retryInMs: delay }, 'redis consumer step failed; retrying');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#wake('retry');
    }, delay);
  }

  /** Nothing to send and nothing claimable: block until a marker, a due time, or the cap. */
  #idle(): void {
    if (this.#paused || this.#retryTimer !== undefined || this.#mayHaveWork || this.#inflight.size > 0) return;
    // Alone, with no free slot our own settlements kick us. In a pool, the last claim found the
    // queue drained: wait for its marker even with no slot free (the wake-up then waits for one).
    if (this.#free() === 0 && this.#pool === undefined) return;
    const blocker = this.#blocker;
    if (blocker === undefined) return;
    if (this.#nextAt >= 0) {
      const dueIn = this.#nextAt - (Date.now() + this.#skew);
      if (dueIn <= 0) {
        this.#wake('due');
        return;
      }
      // Beyond the cap the block ends first and this runs again (a timer cannot hold 2^31 ms).
      if (dueIn < this.#settings.blockMs) this.#armDue(dueIn);
      else this.#clearDue();
    } else this.#clearDue();
    // The block waits for markers only (new work); the timer above covers the due time.
    if (this.#blocking) return;
    const waitMs = this.#settings.blockMs;
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

  /** (Re)arms the due timer for `dueIn` ms from now, unless it already fires at that time. */
  #armDue(dueIn: number): void {
    const at = this.#nextAt;
    if (this.#dueTimer !== undefined && this.#dueAt === at) return;
    this.#clearDue();
    this.#dueAt = at;
    // +1: a timer may fire a little early, and the server promotes only what is due by its clock.
    this.#dueTimer = setTimeout(() => {
      this.#dueTimer = undefined;
      this.#dueAt = -1;
      if (!this.#stopped) this.#wake('due');
    }, Math.min(dueIn + 1, 2 ** 31 - 1));
    this.#dueTimer.unref();
  }

  #clearDue(): void {
    if (this.#dueTimer !== undefined) clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    this.#dueAt = -1;
  }

  async #renew(): Promise<void> {
    if (this.#leases.size === 0 || this.#stopped) return;
    const members: string[] = [];
    for (const lease of this.#leases.values()) members.push(lease.member);
    try {
      const cancels = (await this.#conn.run('qtasksRenew', this.#keys.leases, this.#settings.leaseMs, ...members)) as string[];
      for (let k = 0; k + 1 < cancels.length; k += 2) this.#settings.onCancelRequest?.(cancels[k]!, cancels[k + 1]!);
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'lease renewal failed');
    }
  }
}

/**
 * Per limited queue '<its index among opts.queues, from 1>:<global concurrency>:<max>:<window ms>'
 * (empty fields: no such limit), ',' between; '' when none (CLAIM_LIMITS_SETUP in limiter-lua.ts).
 */
function limitsArg(opts: ConsumeOptions): string {
  const limits = opts.limits;
  if (limits === undefined) return '';
  const parts: string[] = [];
  opts.queues.forEach((queue, k) => {
    const l = limits.get(queue);
    if (l === undefined || (l.globalConcurrency === undefined && l.rate === undefined)) return;
    parts.push(`${k + 1}:${l.globalConcurrency ?? ''}:${l.rate?.max ?? ''}:${l.rate === undefined ? '' : rateWindowMs(l.rate.perMs)}`);
  });
  return parts.join(',');
}

/** How many of `ops` give a task back ('b'). Only scanned while some are pending (rare). */
function countReleases(ops: readonly Op[]): number {
  let n = 0;
  for (const op of ops) if (op.kind === 'b') n++;
  return n;
}

/**
 * The ops with those that share kind, number and queue-and-name together, in their order (stable);
 * ops of one kind and task type, the usual case, come back as they are. Each run is one header and
 * one status-index write and event entry in STEP: interleaved task types (several queues) cost
 * those per op. The settlements of one step are independent of each other's order.
 */
function grouped(ops: Op[]): Op[] {
  const a = ops[0];
  if (a === undefined) return ops;
  for (const op of ops) {
    if (op.kind !== a.kind || op.num !== a.num || op.about !== a.about) {
      const key = (o: Op): string => `${o.kind}${o.num}|${o.about}`;
      return ops.sort((x, y) => {
        const kx = key(x);
        const ky = key(y);
        return kx < ky ? -1 : kx > ky ? 1 : 0;
      });
    }
  }
  return ops;
}

/** The ops part of the STEP arguments (layout in lua.ts): runs of ops sharing kind and number get one header. */
function encodeOps(out: Array<string | number>, ops: readonly Op[]): void {
  out.push(ops.length);
  let start = 0;
  while (start < ops.length) {
    const first = ops[start]!;
    let end = start + 1;
    while (end < ops.length && ops[end]!.kind === first.kind && ops[end]!.num === first.num && ops[end]!.about === first.about) end++;
    out.push(`${first.kind}${first.num}|${end - start}|${first.about}`);
    for (let k = start; k < end; k++) {
      const op = ops[k]!;
      out.push(op.lease.member, op.record);
      if (op.kind === 'd') out.push(op.extra, op.payload ?? '');
      else if (op.kind === 'x') out.push(op.extra);
    }
    start = end;
  }
}
