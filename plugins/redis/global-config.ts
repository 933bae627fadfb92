/**
 * Liveness and the shared key-value store of an app: heartbeats are members of a ZSET scored by
 * their expiry (server time), so `alive()` is one ZCOUNT and dead workers need no cleanup job.
 */
import type { ComponentContext, GlobalConfig } from '../../core/contracts.js';
import { ConnectionClosedError } from '../../core/errors.js';
import { wholeMs, type RedisConnection } from './connection.js';

export class RedisGlobalConfig implements GlobalConfig {
  readonly name = 'redis';
  readonly #conn: RedisConnection;
  #started = false;

  constructor(conn: RedisConnection) {
    this.#conn = conn;
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

  async heartbeat(workerId: string, ttlMs: number): Promise<void> {
    const conn = this.#ready();
    await conn.run('qtasksHeartbeat', conn.keys.workers, workerId, wholeMs(ttlMs));
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
