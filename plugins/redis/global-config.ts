/**
 * Liveness, the worker registry and the shared key-value store of an app: heartbeats are members
 * of a ZSET scored by their expiry (server time), so `alive()` is one ZCOUNT and dead workers need
 * no cleanup job; what each worker said is in a hash beside it (registry-lua.ts).
 */
import type { ComponentContext, GlobalConfig, GlobalSets, Limiter, WorkerInfo } from '../../core/contracts.js';
import { ConnectionClosedError } from '../../core/errors.js';
import { wholeMs, type RedisConnection } from './connection.js';
import { RedisLimiter } from './limiter.js';

export class RedisGlobalConfig implements GlobalConfig {
  readonly name = 'redis';
  readonly #conn: RedisConnection;
  readonly limiter: Limiter;
  #started = false;

  constructor(conn: RedisConnection) {
    this.#conn = conn;
    this.limiter = new RedisLimiter(conn);
  }

  async start(ctx: ComponentContext): Promise<void> {
    await this.#conn.acquire(ctx);
    this.#started = true;
  }

  async set(key: string, value: string): Promise<void> {
    const conn = this.#ready();
    await conn.call('set', (c) => c.hset(conn.keys.kv, key, value));
  }

  async get(key: string): Promise<string | undefined> {
    const conn = this.#ready();
    return (await conn.call('get', (c) => c.hget(conn.keys.kv, key))) ?? undefined;
  }

  async delete(key: string): Promise<void> {
    const conn = this.#ready();
    await conn.call('delete', (c) => c.hdel(conn.keys.kv, key));
  }

  /** One Redis SET per name, beside the kv hash (same hash tag): SADD and SREM are atomic. */
  readonly sets: GlobalSets = {
    add: async (key, member) => {
      const conn = this.#ready();
      return Number(await conn.call('sets.add', (c) => c.sadd(`${conn.keys.kv}:s:${key}`, member))) === 1;
    },
    remove: async (key, member) => {
      const conn = this.#ready();
      return Number(await conn.call('sets.remove', (c) => c.srem(`${conn.keys.kv}:s:${key}`, member))) === 1;
    },
    members: async (key) => {
      const conn = this.#ready();
      return conn.call('sets.members', (c) => c.smembers(`${conn.keys.kv}:s:${key}`));
    },
  };

  async heartbeat(worker: WorkerInfo, ttlMs: number): Promise<void> {
    const conn = this.#ready();
    await conn.run('qtasksHeartbeat', conn.keys.workers, worker.id, wholeMs(ttlMs), JSON.stringify(worker), conn.keys.workerInfo);
  }

  async leave(workerId: string): Promise<void> {
    const conn = this.#ready();
    await conn.run('qtasksLeave', conn.keys.workers, workerId, conn.keys.workerInfo);
  }

  async workers(): Promise<WorkerInfo[]> {
    const conn = this.#ready();
    const rows = (await conn.run('qtasksWorkers', conn.keys.workers, conn.keys.workerInfo)) as Array<string | null>;
    const out: WorkerInfo[] = [];
    for (const row of rows) {
      const info = typeof row === 'string' ? parseWorker(row) : undefined;
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  async alive(): Promise<boolean> {
    const conn = this.#ready();
    return Number(await conn.run('qtasksAlive', conn.keys.workers)) > 0;
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await this.#conn.release();
  }

  #ready(): RedisConnection {
    if (!this.#started) throw new ConnectionClosedError('redis global config');
    return this.#conn;
  }
}

/** A registry entry, or undefined when it is not one (written by something else): skipped, not thrown. */
function parseWorker(row: string): WorkerInfo | undefined {
  try {
    const v = JSON.parse(row) as Partial<WorkerInfo> | null;
    if (v === null || typeof v !== 'object' || typeof v.id !== 'string' || !Array.isArray(v.tasks) || !Array.isArray(v.queues)) return undefined;
    return v as WorkerInfo;
  } catch {
    return undefined;
  }
}
