/**
 * App-wide flow counters on Redis (GlobalConfig.limiter): `<base>gc:<key>` running slots (ZSET of
 * tokens scored by when they lapse) and `<base>rl:<key>` start logs (ZSET scored by start time,
 * a sliding window). One script takes all of them or none, on the server's clock.
 */
import type { FlowLimits, Limiter } from '../../core/contracts.js';
import { wholeMs, type RedisConnection } from './connection.js';
import { rateWindowMs } from './limiter-lua.js';

export class RedisLimiter implements Limiter {
  readonly #conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.#conn = conn;
  }

  async acquire(token: string, limits: FlowLimits, holdMs: number): Promise<number> {
    const keys = this.#conn.keys;
    const args: Array<string | number> = [keys.base, token, wholeMs(holdMs)];
    const c = limits.concurrency ?? [];
    args.push(c.length);
    for (const s of c) args.push(s.key, s.limit);
    const r = limits.rate ?? [];
    args.push(r.length);
    for (const s of r) args.push(s.key, s.max, rateWindowMs(s.perMs));
    return Number(await this.#conn.run('qtasksLimit', keys.seq, ...args));
  }

  async renew(token: string, key: string, holdMs: number): Promise<void> {
    await this.#conn.run('qtasksSlot', `${this.#conn.keys.base}gc:${key}`, token, wholeMs(holdMs));
  }

  async release(token: string, key: string): Promise<void> {
    await this.#conn.run('qtasksSlot', `${this.#conn.keys.base}gc:${key}`, token, '');
  }
}
