/**
 * App-wide flow counters in process (GlobalConfig.limiter): running slots and sliding-window
 * start logs per key, shared by the apps given the same backend.
 */
import type { FlowLimits, Limiter } from '../../core/contracts.js';

/** Added to each rate window: the grant and the handler's start are a few ms apart. */
export const RATE_MARGIN_MS = 50;

export class MemoryLimiter implements Limiter {
  /** key -> token -> until (epoch ms). */
  readonly #running = new Map<string, Map<string, number>>();
  /** key -> start times (epoch ms), oldest first. */
  readonly #starts = new Map<string, number[]>();

  async acquire(token: string, limits: FlowLimits, holdMs: number): Promise<number> {
    const now = Date.now();
    let wait = 0;
    const slots: Array<Map<string, number>> = [];
    for (const c of limits.concurrency ?? []) {
      const running = this.#slots(c.key, now);
      slots.push(running);
      if (!running.has(token) && running.size >= c.limit) wait = 20;
    }
    const logs: number[][] = [];
    for (const r of limits.rate ?? []) {
      const window = r.perMs + Math.min(RATE_MARGIN_MS, r.perMs / 20);
      const log = this.#starts.get(r.key) ?? [];
      this.#starts.set(r.key, log);
      logs.push(log);
      while (log.length > 0 && log[0]! <= now - window) log.shift();
      if (log.length >= r.max) wait = Math.max(wait, log[0]! + window - now + 1);
    }
    if (wait > 0) return wait;
    for (const running of slots) running.set(token, now + holdMs);
    for (const log of logs) log.push(now);
    return 0;
  }

  async renew(token: string, key: string, holdMs: number): Promise<void> {
    const slots = this.#running.get(key);
    if (slots?.has(token) === true) slots.set(token, Date.now() + holdMs);
  }

  async release(token: string, key: string): Promise<void> {
    this.#running.get(key)?.delete(token);
  }

  #slots(key: string, now: number): Map<string, number> {
    let slots = this.#running.get(key);
    if (slots === undefined) this.#running.set(key, (slots = new Map()));
    for (const [token, until] of slots) if (until <= now) slots.delete(token);
    return slots;
  }
}
