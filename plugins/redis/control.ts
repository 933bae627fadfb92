/**
 * The Redis control plane: every state change is one script over the status indexes that
 * ENQUEUE and STEP keep (lua.ts, control-lua.ts), with its event appended in the same script.
 * Cancel of a running task: a tombstone plus a message on the app's `ctl` channel, which every
 * worker of the app listens to. With records elsewhere (broker only), the record-backed
 * capabilities are not offered.
 */
import type {
  CancelFound,
  ComponentContext,
  Control,
  ControlCapability,
  ControlListPage,
  ControlListQuery,
  ListStatus,
  QueueCounts,
  SubscribeOptions,
  TaskEvent,
} from '../../core/contracts.js';
import { TaskStatus, messageToRecord, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { wholeMs, type RedisConnection } from './connection.js';
import { EventReader } from './control-events.js';
import { decodeRecord, type RedisStorage } from './storage.js';
import { indexClean, indexCounts, indexList } from './storage-index.js';
import { cleanPerQueue, countsPerQueue, listPerQueue, onCancelPerQueue, onTheTasksQueue, setPausedPerQueue, subscribePerQueue } from './control-queues.js';

const QUEUE_SIDE: ControlCapability[] = ['counts', 'cancel', 'promote', 'pause', 'events', 'progress', 'replay'];
const ALL: ControlCapability[] = [...QUEUE_SIDE, 'list', 'retry', 'remove', 'clean', 'purge'];
const PURGE_BATCH = 1000;

export class RedisControl implements Control {
  readonly name = 'redis';
  readonly capabilities: ReadonlySet<ControlCapability>;
  readonly alternatives = 'redis() as both broker and storage (or memory() as both)';
  readonly #conn: RedisConnection;
  readonly #storage: RedisStorage | undefined;
  #ctx: ComponentContext | undefined;
  readonly #cancelListeners = new Set<(id: string, reason: string) => void>();

  constructor(conn: RedisConnection, storage: RedisStorage | undefined) {
    this.#conn = conn;
    this.#storage = storage;
    this.capabilities = new Set(storage !== undefined ? ALL : QUEUE_SIDE);
  }

  /** After the connection is up. Progress goes out just before a settlement and must stay ahead of it. */
  async start(ctx: ComponentContext): Promise<void> {
    this.#ctx = ctx;
    await this.#conn.load('qtasksProgress');
  }

  get #leaseMs(): number {
    return this.#ctx?.config.leaseMs ?? 30_000;
  }

  async counts(queues: readonly string[] | undefined): Promise<QueueCounts[]> {
    if (this.#conn.perQueue) return countsPerQueue(this.#conn, queues);
    return (await indexCounts(this.#conn, queues)).map((c) => ({
      queue: c.queue, waiting: c.new - c.delayed, delayed: c.delayed, running: c.process, retrying: c.retry,
      dead: c.dead, success: c.success, error: c.error, cancel: c.cancel, paused: c.paused,
    }));
  }

  list(query: ControlListQuery): Promise<ControlListPage> {
    if (this.#conn.perQueue) return listPerQueue(this.#conn, this.#leaseMs, query);
    return indexList(this.#conn, this.#leaseMs, query, true);
  }

  async cancel(id: string, reason: string): Promise<CancelFound> {
    const keys = this.#conn.keys;
    const reply = (
      this.#conn.perQueue
        ? await onTheTasksQueue(this.#conn, 'qtasksCancel', id, [reason, this.#leaseMs], (r) => (r as string[])[0] !== 'unknown')
        : await this.#conn.run('qtasksCancel', keys.record(id), keys.base, id, reason, this.#leaseMs)
    ) as Array<string | null> | undefined;
    if (reply === undefined) return 'unknown';
    const found = reply[0] as CancelFound;
    if (found === 'queued' && this.#storage !== undefined) {
      // Out of its queue now, so nothing else writes this record: store the cancel (fenced as always).
      const base = decodeRecord(id, [reply[1] ?? null, null, reply[2] ?? null], this.#leaseMs);
      if (base !== undefined) {
        const now = Date.now();
        await this.#storage.save({ ...base, status: TaskStatus.CANCEL, updatedAt: now, finishedAt: now, runAt: undefined, reason }, { ttlMs: this.#ctx?.config.resultTtlMs ?? 86_400_000 });
      }
    }
    return found;
  }

  async retry(message: TaskMessage): Promise<boolean> {
    const keys = this.#conn.placement.of(message.queue);
    const record = `0|${JSON.stringify(messageToRecord(message, Date.now()))}`;
    return (await this.#conn.run('qtasksRetry', keys.record(message.id), keys.base, message.id, JSON.stringify(message), record)) === 1;
  }

  async promote(id: string): Promise<boolean> {
    if (this.#conn.perQueue) return (await onTheTasksQueue(this.#conn, 'qtasksPromote', id, [], (r) => r === 1)) === 1;
    const keys = this.#conn.keys;
    return (await this.#conn.run('qtasksPromote', keys.record(id), keys.base, id)) === 1;
  }

  async remove(id: string): Promise<boolean> {
    if (this.#conn.perQueue) return (await onTheTasksQueue(this.#conn, 'qtasksRemove', id, [], (r) => r === 1)) === 1;
    const keys = this.#conn.keys;
    return (await this.#conn.run('qtasksRemove', keys.record(id), keys.base, id)) === 1;
  }

  clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
    if (this.#conn.perQueue) return cleanPerQueue(this.#conn, status, olderThanMs, limit);
    return indexClean(this.#conn, status, olderThanMs, limit);
  }

  async purge(queue: string): Promise<number> {
    const keys = this.#conn.placement.of(queue);
    let n = 0;
    for (;;) {
      const done = Number(await this.#conn.run('qtasksPurge', keys.queues, keys.base, queue, PURGE_BATCH));
      n += done;
      if (done === 0) return n;
    }
  }

  async setPaused(queue: string, paused: boolean): Promise<void> {
    if (this.#conn.perQueue) return setPausedPerQueue(this.#conn, queue, paused);
    const keys = this.#conn.keys;
    await this.#conn.run('qtasksPause', keys.paused, keys.base, queue, paused ? '1' : '');
  }

  async progress(message: TaskMessage, attempt: number, value: unknown): Promise<boolean> {
    const keys = this.#conn.placement.of(message.queue);
    const { id, name, queue } = message;
    const ttl = wholeMs(this.#leaseMs * 10);
    return (await this.#conn.run('qtasksProgress', keys.leases, keys.base, id, attempt, JSON.stringify(value), name, queue, ttl)) === 1;
  }

  async subscribe(listener: (event: TaskEvent) => void, options?: SubscribeOptions): Promise<() => Promise<void>> {
    if (this.#conn.perQueue) return subscribePerQueue(this.#conn, listener, this.#ctx?.logger, options);
    const reader = new EventReader(this.#conn, listener, this.#ctx?.logger, options);
    await reader.start();
    return () => reader.stop();
  }

  /** A cancel request found some other way than the channel (a tombstone at lease renewal). */
  requested(id: string, reason: string): void {
    for (const listener of this.#cancelListeners) listener(id, reason);
  }

  async onCancel(listener: (id: string, reason: string) => void): Promise<() => Promise<void>> {
    this.#cancelListeners.add(listener);
    if (this.#conn.perQueue) {
      const subs = await onCancelPerQueue(this.#conn, listener);
      return async () => {
        this.#cancelListeners.delete(listener);
        await this.#conn.close(subs);
      };
    }
    const sub = await this.#conn.duplicate('ctl');
    const channel = this.#conn.keys.ctl;
    sub.on('message', (ch: string, text: string) => {
      if (ch !== channel) return;
      const nl = text.indexOf('\n');
      listener(text.slice(0, nl), text.slice(nl + 1));
    });
    await sub.subscribe(channel);
    return async () => {
      this.#cancelListeners.delete(listener);
      await this.#conn.close(sub);
    };
  }
}
