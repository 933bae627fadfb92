/**
 * App-wide flow counters on Redis (GlobalConfig.limiter): `<base>gc:<key>` running slots (ZSET of
 * tokens scored by when they lapse) and `<base>rl:<key>` start logs (ZSET scored by start time,
 * a sliding window). One script takes both or neither, on the server's clock.
 */
import type { FlowLimits, Limiter } from '../../core/contracts.js';
import { wholeMs, type RedisConnection } from './connection.js';
import { RATE_MARGIN_MS } from './limiter-lua.js';

export class RedisLimiter implements Limiter {
  readonly #conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.#conn = conn;
  }

  async acquire(token: string, limits: FlowLimits, holdMs: number): Promise<number> {
    const keys = this.#conn.keys;
    const c = limits.concurrency;
    const r = limits.rate;
    const window = r === undefined ? 0 : r.perMs + Math.min(RATE_MARGIN_MS, Math.floor(r.perMs / 20));
    const reply = await this.#conn.run('qtasksLimit', keys.seq, keys.base, token, wholeMs(holdMs), c?.key ?? '', c?.limit ?? 0, r?.key ?? '', r?.max ?? 0, window);
    return Number(reply);
  }

  async renew(token: string, key: string, holdMs: number): Promise<void> {
    await this.#conn.run('qtasksSlot', `${this.#conn.keys.base}gc:${key}`, token, wholeMs(holdMs));
  }

  async release(token: string, key: string): Promise<void> {
    await this.#conn.run('qtasksSlot', `${this.#conn.keys.base}gc:${key}`, token, '');
  }
}
