/**
 * Redis storage: one hash per task (`r` the record JSON, `n` its attempts), written by a script
 * fenced on attempts. Final records expire after their TTL and are published on the app's `done`
 * channel when someone waits (`w`); waiters subscribe before they look, so none is missed.
 */
import type { ComponentContext, SaveOptions, Storage } from '../../core/contracts.js';
import { ConnectionClosedError, ErrorCodes, QTasksError } from '../../core/errors.js';
import { TaskStatus, isFinal, type TaskRecord } from '../../core/record.js';
import type { RedisClient, RedisConnection } from './connection.js';

type Wake = (record: TaskRecord | undefined) => void;

export class RedisStorage implements Storage {
  readonly name = 'redis';
  readonly #conn: RedisConnection;
  readonly #waiters = new Map<string, Set<Wake>>();
  #sub: RedisClient | undefined;
  #subscribing: Promise<RedisClient> | undefined;
  #started = false;

  constructor(conn: RedisConnection) {
    this.#conn = conn;
  }

  async start(ctx: ComponentContext): Promise<void> {
    await this.#conn.acquire(ctx);
    this.#started = true;
  }

  async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    const keys = this.#ready().keys;
    const json = JSON.stringify(record);
    const ok = await this.#conn.run('qtasksSave', keys.job(record.id), keys.done, json, record.attempts, isFinal(record.status) ? '1' : '', Math.max(1, Math.round(options.ttlMs)));
    return ok === 1;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const conn = this.#ready();
    const [r, c, n] = await conn.client.hmget(conn.keys.job(id), 'r', 'c', 'n');
    return decodeRecord(id, r ?? null, c ?? null, n ?? null);
  }

  async waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    const conn = this.#ready();
    await this.#subscribe();
    return new Promise<TaskRecord | undefined>((resolve, reject) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, (set = new Set()));
      const waiters = set;
      const done = (record: TaskRecord | undefined): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve(record);
      };
      const wake: Wake = (record) => done(record);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      waiters.add(wake);
      // Subscribed first, then flag the task and look: a record finished in between is seen here.
      conn.run('qtasksWatch', conn.keys.job(id)).then(
        (reply) => {
          const [r, c, n] = reply as Array<string | null>;
          const record = decodeRecord(id, r ?? null, c ?? null, n ?? null);
          if (record !== undefined && isFinal(record.status)) done(record);
        },
        (err: unknown) => {
          clearTimeout(timer);
          waiters.delete(wake);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const set of this.#waiters.values()) for (const wake of set) wake(undefined);
    this.#waiters.clear();
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
      const channel = this.#conn.keys.done;
      sub.on('message', (ch: string, text: string) => {
        if (ch === channel && this.#waiters.size > 0) this.#onFinal(text);
      });
      // Publications sent while the connection was down are lost: look up every waiter again.
      sub.on('ready', () => void this.#recheck());
      await sub.subscribe(channel);
      this.#sub = sub;
      return sub;
    })().catch((err: unknown) => {
      this.#subscribing = undefined;
      throw err;
    });
    return this.#subscribing;
  }

  #onFinal(text: string): void {
    let record: TaskRecord;
    try {
      record = JSON.parse(text) as TaskRecord;
    } catch {
      return;
    }
    const set = this.#waiters.get(record.id);
    if (set !== undefined) for (const wake of [...set]) wake(record);
  }

  async #recheck(): Promise<void> {
    for (const id of [...this.#waiters.keys()]) {
      try {
        const record = await this.get(id);
        if (record !== undefined && isFinal(record.status)) for (const wake of [...(this.#waiters.get(id) ?? [])]) wake(record);
      } catch {
        return; // still down; the next 'ready' tries again
      }
    }
  }
}

/** The stored record, with the claim overlay (`c`: a delivery is running since then, attempt `n`). */
export function decodeRecord(id: string, r: string | null, c: string | null, n: string | null): TaskRecord | undefined {
  if (r === null) return undefined;
  let record: TaskRecord;
  try {
    record = JSON.parse(r) as TaskRecord;
  } catch (err) {
    throw new QTasksError(ErrorCodes.MALFORMED_MESSAGE, `redis storage: the record of task ${id} is not JSON`, { cause: err });
  }
  if (c === null) return record;
  const at = Number(c);
  return { ...record, status: TaskStatus.PROCESS, attempts: Number(n), updatedAt: at, startedAt: at };
}
