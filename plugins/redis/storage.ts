/**
 * Redis storage: one string per task ('<attempts>|<record JSON>'), written by a script fenced on
 * attempts. Final records expire after their TTL and are published on the app's `done` channel
 * when the task's id is in the app's `waiting` set; waiters subscribe before they look, so none
 * is missed.
 */
import type { ComponentContext, GroupJoin, PublishReservation, PublishReserveOptions, RecordWrite, ReserveOptions, Retention, SaveOptions, Storage } from '../../core/contracts.js';
import { ConnectionClosedError, ErrorCodes, QTasksError } from '../../core/errors.js';
import { TaskStatus, isFinal, messageToRecord, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { Waiters } from '../../core/waiters.js';
import { driverError, wholeMs, type RedisClient, type RedisConnection } from './connection.js';
import { withArgs } from './large.js';
import type { Keys } from './keys.js';
import { RedisStorageIndex } from './storage-index.js';

/** Ids per GET_MANY script call. */
const GET_MANY_CHUNK = 500;

export class RedisStorage implements Storage {
  readonly name = 'redis';
  readonly #conn: RedisConnection;
  readonly #waiters = new Waiters();
  /** Ids whose wait the broker's enqueue marks (publish with `waitMs`): no WATCH of their own. */
  readonly #markedByEnqueue = new Set<string>();
  /** Placement 'queue': the queue of an id whose wait the broker's publish of this tick starts (see waitFinal). */
  readonly #queueHints = new Map<string, string>();
  #sub: RedisClient | undefined;
  #subscribing: Promise<RedisClient> | undefined;
  #started = false;
  #leaseMs = 30_000;

  /** Status indexes kept by `save` (storage beside a broker without records; the Redis broker keeps its own). */
  readonly index: RedisStorageIndex | undefined;
  readonly #retention: Retention;

  constructor(conn: RedisConnection, options: { indexed?: boolean; retention?: Retention } = {}) {
    this.#conn = conn;
    // `Storage.join` (JOIN in join-lua.ts) is absent with placement 'queue': a group's members sit
    // on their queues' slots and one script cannot count them with the record write; the kernel
    // then joins by scanning the members' records (core/workflow/join-scan.ts).
    if (conn.perQueue) Object.defineProperty(this, 'join', { value: undefined });
    this.#retention = options.retention ?? {};
    this.index = options.indexed === true ? new RedisStorageIndex(conn, () => this.#leaseMs) : undefined;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.#leaseMs = ctx.config.leaseMs;
    await this.#conn.acquire(ctx);
    this.#started = true;
  }

  async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    const keys = this.#ready().placement.of(record.queue);
    const value = `${record.attempts}|${JSON.stringify(record)}`;
    const final = isFinal(record.status);
    const index = this.index === undefined ? [] : [keys.base, ...this.#indexArgs(record)];
    const ok = await this.#conn.run('qtasksSave', keys.record(record.id), keys.done, value, record.attempts, final ? '1' : '', wholeMs(options.ttlMs), keys.waiting, record.id, ...index);
    return ok === 1;
  }

  /** Every write in one script call (SAVE_MANY in lua.ts), fenced one by one, in order. */
  async saveMany(writes: readonly RecordWrite[]): Promise<boolean[]> {
    if (this.#ready().placement.perQueue) return saveManyPerQueue(writes, (w) => this.#saveMany(w));
    return this.#saveMany(writes);
  }

  async #saveMany(writes: readonly RecordWrite[]): Promise<boolean[]> {
    const keys = this.#ready().placement.of(writes[0]?.record.queue ?? '');
    const args: Array<string | number> = [keys.base, keys.base, this.index !== undefined ? '1' : ''];
    for (const { record, options } of writes) {
      args.push(record.id, `${record.attempts}|${JSON.stringify(record)}`, record.attempts, isFinal(record.status) ? '1' : '', wholeMs(options.ttlMs));
      if (this.index !== undefined) args.push(...this.#indexArgs(record));
    }
    const reply = (await this.#conn.runArgs('qtasksSaveMany', args)) as number[];
    return reply.map((ok) => ok === 1);
  }

  /** What INDEX_SAVED needs (lua.ts): status, queue, delayed ('1': new with a future start), keep (retention). */
  #indexArgs(record: TaskRecord): string[] {
    const delayed = record.status === TaskStatus.NEW && (record.runAt ?? 0) > Date.now() ? '1' : '';
    return [record.status, record.queue, delayed, String((this.#retention as Record<string, number | undefined>)[record.status] ?? '')];
  }

  /** Takes the id (and dedup key) here before a broker without records publishes (RESERVE in dedup-lua.ts). */
  async reserve(record: TaskRecord, options: ReserveOptions): Promise<string | undefined> {
    const keys = this.#ready().placement.of(record.queue);
    const d = options.dedup;
    const reply = await this.#conn.run('qtasksReserve', keys.record(record.id), keys.base, record.id, `0|${JSON.stringify(record)}`, d?.mode ?? '', d?.key ?? '', d?.ttlMs ?? 0);
    if (typeof reply === 'string') return reply;
    // stored: file it in the indexes too (the same record again, which the fence lets through)
    if (this.index !== undefined) await this.save(record, options);
    return undefined;
  }

  /**
   * reserve, with the record marked unconfirmed until publishMs from now (RESERVE in
   * dedup-lua.ts): a mark past its deadline on a record still `new` is taken over.
   */
  async reservePublish(record: TaskRecord, options: PublishReserveOptions): Promise<PublishReservation> {
    const keys = this.#ready().keys;
    const d = options.dedup;
    const args = [keys.record(record.id), keys.base, record.id, `0|${JSON.stringify(record)}`, d?.mode ?? '', d?.key ?? '', d?.ttlMs ?? 0, wholeMs(options.publishMs), wholeMs(options.ttlMs)];
    const reply = await this.#conn.runArgs('qtasksReserve', args);
    if (typeof reply === 'string') return { kind: 'existing', id: reply };
    if (typeof reply === 'number') return { kind: 'publishing', retryMs: Math.max(1, reply) };
    if (this.index !== undefined) await this.save(record, options);
    return { kind: 'reserved' };
  }

  /** Confirmed: the mark goes; failed: its deadline becomes 0 (past), so the next reservePublish takes over. */
  async confirmPublish(id: string, published: boolean): Promise<void> {
    const key = `${this.#ready().keys.base}rp:${id}`;
    if (published) await this.#conn.call('confirmPublish', (c) => c.del(key));
    else await this.#conn.call('confirmPublish', (c) => c.set(key, '0', 'KEEPTTL', 'XX'));
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const conn = this.#ready();
    if (conn.placement.perQueue) return firstFound(await this.#probe('qtasksGet', id));
    const reply = await conn.run('qtasksGet', conn.keys.record(id), conn.keys.base, id);
    return (await withArgs(conn, [decodeRecord(id, reply as Array<string | null>, this.#leaseMs)]))[0];
  }

  /** GET of many ids, in scripts of GET_MANY_CHUNK ids (join-lua.ts): one round trip per chunk, none holding Redis long. */
  async getMany(ids: readonly string[]): Promise<Array<TaskRecord | undefined>> {
    const conn = this.#ready();
    if (conn.placement.perQueue) {
      // Each id is in one queue: look in every queue's base, take what was found.
      const queues = await conn.call('getMany', (c) => conn.placement.queues(c));
      const perQueue = await Promise.all(queues.map((q) => this.#getMany(conn, conn.placement.of(q), ids)));
      return ids.map((_, k) => perQueue.find((found) => found[k] !== undefined)?.[k]);
    }
    return this.#getMany(conn, conn.keys, ids);
  }

  async #getMany(conn: RedisConnection, keys: Keys, ids: readonly string[]): Promise<Array<TaskRecord | undefined>> {
    const chunks: Array<Promise<unknown>> = [];
    for (let at = 0; at < ids.length; at += GET_MANY_CHUNK) chunks.push(conn.runArgs('qtasksGetMany', [keys.base, keys.base, ...ids.slice(at, at + GET_MANY_CHUNK)]));
    const replies = (await Promise.all(chunks)) as Array<Array<string | null>>;
    const out: Array<TaskRecord | undefined> = [];
    replies.forEach((reply, c) => {
      for (let k = 0; k * 4 < reply.length; k++) out.push(decodeRecord(ids[c * GET_MANY_CHUNK + k]!, reply.slice(k * 4, k * 4 + 4), this.#leaseMs));
    });
    return withArgs(conn, out);
  }

  /** The member counted, and below the group's size its record stored, in one script (JOIN in join-lua.ts). */
  async join(entry: GroupJoin): Promise<number> {
    const keys = this.#ready().keys;
    const { record } = entry;
    const ttl = wholeMs(entry.ttlMs);
    const index = this.index === undefined ? [''] : ['1', ...this.#indexArgs(record)];
    const args = [keys.record(record.id), keys.base, `${record.attempts}|${JSON.stringify(record)}`, record.attempts, ttl, record.id, entry.group, entry.member, entry.size, ...index];
    return (await this.#conn.runArgs('qtasksJoin', args)) as number;
  }

  /** The subscription is live, so a wait begun now hears even a task that finishes at once. */
  async prepareWait(): Promise<void> {
    this.#ready();
    await this.#subscribe();
  }

  /**
   * The broker (same plugin, records kept by it) marks this id's wait inside the enqueue that is
   * publishing it now: the wait begun just before needs no WATCH call of its own (addTask with a
   * timeout was two script calls, the WATCH first, on the way to the worker).
   */
  markedByEnqueue(id: string): void {
    this.#markedByEnqueue.add(id);
  }

  /** Placement 'queue': the publish of this tick puts `id` on `queue`, so a wait for it looks there alone. */
  queueOf(id: string, queue: string): void {
    this.#queueHints.set(id, queue);
  }

  /**
   * Placement 'queue': `script` (GET or WATCH) run on every queue of the app, in parallel, and on
   * the queue this tick's publish puts the task on (a queue maybe not in the app's list yet: the
   * publish registers it after this look); the decoded replies.
   */
  async #probe(script: 'qtasksGet' | 'qtasksWatch', id: string, ...more: Array<string | number>): Promise<Array<TaskRecord | undefined>> {
    const conn = this.#ready();
    const placement = conn.placement;
    const hint = this.#queueHints.get(id);
    this.#queueHints.delete(id);
    const queues = await conn.call('get', (c) => placement.queues(c));
    if (hint !== undefined && !queues.includes(hint)) queues.push(hint);
    const replies = await Promise.all(queues.map((q) => conn.run(script, placement.of(q).record(id), placement.of(q).base, id, ...more)));
    return withArgs(conn, replies.map((reply) => decodeRecord(id, reply as Array<string | null>, this.#leaseMs)));
  }

  async waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    const conn = this.#ready();
    try {
      await this.#subscribe();
    } catch (err) {
      this.#markedByEnqueue.delete(id);
      this.#queueHints.delete(id);
      throw err;
    }
    const wait = this.#waiters.wait(id, timeoutMs);
    // Marked atomically with the enqueue, which also means the task is new: no record to read yet.
    if (this.#markedByEnqueue.delete(id)) {
      this.#queueHints.delete(id);
      return wait.result;
    }
    if (conn.placement.perQueue) {
      return this.#probe('qtasksWatch', id, Math.round(timeoutMs) + 1_000).then(
        (records) => {
          const record = firstFound(records);
          if (record !== undefined && isFinal(record.status)) this.#waiters.wake(record);
          return wait.result;
        },
        (err: unknown) => {
          wait.cancel();
          throw err instanceof Error ? err : new Error(String(err));
        },
      );
    }
    // Subscribed first, then flag the task and look: a record finished in between is seen here,
    // and a task published after this call (addTask with a timeout) finds the flag set.
    return conn.run('qtasksWatch', conn.keys.record(id), conn.keys.base, id, Math.round(timeoutMs) + 1_000).then(
      async (reply) => {
        const [record] = await withArgs(conn, [decodeRecord(id, reply as Array<string | null>, this.#leaseMs)]);
        if (record !== undefined && isFinal(record.status)) this.#waiters.wake(record);
        return wait.result;
      },
      (err: unknown) => {
        wait.cancel();
        throw err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#waiters.clear();
    this.#queueHints.clear();
    const sub = this.#sub;
    this.#sub = undefined;
    this.#subscribing = undefined;
    if (sub !== undefined) await this.#conn.close(sub);
    await this.#conn.release();
  }

  #ready(): RedisConnection {
    if (!this.#started) throw new ConnectionClosedError('redis storage');
    return this.#conn;
  }

  #subscribe(): Promise<RedisClient> {
    this.#subscribing ??= (async () => {
      const sub = await this.#conn.duplicate('sub');
      const placement = this.#conn.placement;
      if (placement.perQueue) return this.#subscribeQueues(sub, placement.channelPattern('done'));
      const channel = this.#conn.keys.done;
      sub.on('message', (ch: string, text: string) => {
        if (ch === channel && this.#waiters.size > 0) this.#onFinal(text);
      });
      // Publications sent while the connection was down are lost: look up every waiter again, but
      // only once the subscription is back. ioredis emits 'ready' before its own resubscription is
      // confirmed, so subscribe once more (harmless) and look when that reply arrives.
      sub.on('ready', () => {
        sub.subscribe(channel).then(
          () => this.#recheck(),
          () => undefined, // down again: the next 'ready' comes back here
        );
      });
      try {
        await sub.subscribe(channel);
      } catch (err) {
        await this.#conn.close(sub);
        throw driverError(err, 'subscribe');
      }
      this.#sub = sub;
      return sub;
    })().catch((err: unknown) => {
      this.#subscribing = undefined;
      throw err;
    });
    return this.#subscribing;
  }

  /** Placement 'queue': every queue's `done` channel, through one pattern subscription (the same steps as #subscribe). */
  async #subscribeQueues(sub: RedisClient, pattern: string): Promise<RedisClient> {
    sub.on('pmessage', (pat: string, _ch: string, text: string) => {
      if (pat === pattern && this.#waiters.size > 0) this.#onFinal(text);
    });
    sub.on('ready', () => {
      sub.psubscribe(pattern).then(
        () => this.#recheck(),
        () => undefined,
      );
    });
    try {
      await sub.psubscribe(pattern);
    } catch (err) {
      await this.#conn.close(sub);
      throw driverError(err, 'subscribe');
    }
    this.#sub = sub;
    return sub;
  }

  #onFinal(text: string): void {
    let record: TaskRecord;
    try {
      record = JSON.parse(text.slice(text.indexOf('|') + 1)) as TaskRecord;
    } catch {
      return;
    }
    if ((record as { args?: unknown }).args !== undefined) this.#waiters.wake(record);
    // a large task's record, stored without its args: read them before handing it over
    else if (this.#started) withArgs(this.#conn, [record]).then(([r]) => this.#waiters.wake(r!), () => void this.#recheck());
  }

  async #recheck(): Promise<void> {
    for (const id of this.#waiters.ids()) {
      if (!this.#started) return;
      try {
        const record = await this.get(id);
        if (record !== undefined && isFinal(record.status)) this.#waiters.wake(record);
      } catch {
        // The command connection is still down while the subscriber is back: look again shortly.
        if (this.#started) setTimeout(() => void this.#recheck(), 250).unref();
        return;
      }
    }
  }
}

/**
 * The stored record from [r, lease, j]: r ('<attempts>|<JSON>'), or while the task is still `new`
 * the record derived from the job j ('<runAt>|<message JSON>') as the kernel derives it. A running
 * delivery (lease '<attempt>:<expiry>') shows as `process`; its start time is the last lease
 * renewal (expiry minus this app's leaseMs).
 */
export function decodeRecord(id: string, reply: ReadonlyArray<string | null>, leaseMs: number): TaskRecord | undefined {
  const [r, lease, j, progress] = reply;
  let record: TaskRecord;
  try {
    if (typeof r === 'string') record = JSON.parse(r.slice(r.indexOf('|') + 1)) as TaskRecord;
    else if (typeof j === 'string') {
      const bar = j.indexOf('|');
      const message = JSON.parse(j.slice(bar + 1)) as TaskMessage;
      // '<runAt>#<ready head>|': the runAt is what precedes the '#' (or the bar)
      const hash = j.lastIndexOf('#', bar);
      const end = hash >= 0 ? hash : bar;
      record = messageToRecord(message, message.createdAt, end > 0 ? Number(j.slice(0, end)) : undefined);
    } else return undefined;
  } catch (err) {
    throw new QTasksError(ErrorCodes.MALFORMED_MESSAGE, `redis storage: the record of task ${id} is not JSON`, { cause: err });
  }
  if (typeof lease !== 'string') return record;
  const colon = lease.indexOf(':');
  const at = Math.round(Number(lease.slice(colon + 1)) - leaseMs);
  const attempts = Number(lease.slice(0, colon));
  const running: TaskRecord = { ...record, status: TaskStatus.PROCESS, attempts, updatedAt: at, startedAt: at };
  // progress of this delivery only ('<attempt>|<JSON>'): an older attempt's value is not this one's
  if (typeof progress === 'string' && Number(progress.slice(0, progress.indexOf('|'))) === attempts) {
    return { ...running, progress: JSON.parse(progress.slice(progress.indexOf('|') + 1)) as unknown };
  }
  return running;
}

/** A record found in one queue's base (placement 'queue'); ids are unique, so at most one has it. */
function firstFound(records: ReadonlyArray<TaskRecord | undefined>): TaskRecord | undefined {
  return records.find((r) => r !== undefined);
}

/** saveMany per queue (placement 'queue': one script call per queue's slot), the replies in the writes' order. */
async function saveManyPerQueue(writes: readonly RecordWrite[], run: (writes: RecordWrite[]) => Promise<boolean[]>): Promise<boolean[]> {
  const groups = new Map<string, number[]>();
  writes.forEach((w, k) => {
    const at = groups.get(w.record.queue);
    if (at === undefined) groups.set(w.record.queue, [k]);
    else at.push(k);
  });
  const out = new Array<boolean>(writes.length).fill(false);
  await Promise.all(
    [...groups.values()].map(async (at) => {
      const replies = await run(at.map((k) => writes[k]!));
      at.forEach((k, n) => (out[k] = replies[n] === true));
    }),
  );
  return out;
}
