/**
 * The worker's flow gate: before a delivery of a task with `rateLimit` or `globalConcurrency`
 * runs, it takes the app-wide slots from the global config's limiter (GlobalConfig.limiter). A
 * delivery that finds no slot is held (it keeps its place and its lease) and asks again when the
 * limiter says a slot may be free; it is never requeued in a loop. Tasks without limits never
 * reach the limiter.
 */
import { randomUUID } from 'node:crypto';
import type { FlowLimits, Limiter } from '../contracts.js';
import { ErrorCodes, QTasksError, messageOf } from '../errors.js';
import type { LoggerLike } from '../logger.js';
import type { TaskMessage } from '../record.js';
import type { TaskDefinition } from '../task.js';

/** A running slot taken by one delivery; released once it settles. */
export interface Held {
  readonly token: string;
  readonly key: string | undefined;
  readonly renew: NodeJS.Timeout | undefined;
}

const NEXT_TRY_MAX_MS = 1_000;

/** The limits one call of `def` asks for, or undefined when the task has none (the usual case). */
export function limitsOf(def: TaskDefinition, message: TaskMessage): FlowLimits | undefined {
  const { rateLimit, globalConcurrency } = def.options;
  if (rateLimit === undefined && globalConcurrency === undefined) return undefined;
  let rateKey = `t:${def.name}`;
  if (rateLimit?.key !== undefined) rateKey += `:${String((rateLimit.key as (...a: unknown[]) => unknown)(...message.args))}`;
  return {
    ...(globalConcurrency !== undefined ? { concurrency: { key: `t:${def.name}`, limit: globalConcurrency } } : {}),
    ...(rateLimit !== undefined ? { rate: { key: rateKey, max: rateLimit.max, perMs: rateLimit.perMs } } : {}),
  };
}

/** Fails the worker's start when a task has limits and the global config keeps no counters. */
export function requireLimiter(tasks: Iterable<TaskDefinition>, limiter: Limiter | undefined, globalConfig: string): void {
  if (limiter !== undefined) return;
  for (const def of tasks) {
    if (def.options.rateLimit !== undefined || def.options.globalConcurrency !== undefined) {
      throw new QTasksError(
        ErrorCodes.UNSUPPORTED,
        `task "${def.name}" has rateLimit or globalConcurrency, which need app-wide counters; global config "${globalConfig}" keeps none shared by every worker of the app (use redis() for the global config, or memory() for everything)`,
      );
    }
  }
}

export class FlowGate {
  readonly #limiter: Limiter;
  readonly #holdMs: number;
  readonly #log: LoggerLike;

  constructor(limiter: Limiter, holdMs: number, log: LoggerLike) {
    this.#limiter = limiter;
    this.#holdMs = holdMs;
    this.#log = log;
  }

  /** Waits until the slots are taken; undefined if `gone()` became true first (the worker stopped). */
  async take(limits: FlowLimits, gone: () => boolean): Promise<Held | undefined> {
    const token = randomUUID();
    for (;;) {
      if (gone()) return undefined;
      let waitMs: number;
      try {
        waitMs = await this.#limiter.acquire(token, limits, this.#holdMs);
      } catch (err) {
        this.#log.warn({ err: messageOf(err) }, 'flow limiter unavailable; asking again');
        waitMs = NEXT_TRY_MAX_MS;
      }
      if (waitMs <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(1, waitMs), NEXT_TRY_MAX_MS)));
    }
    const key = limits.concurrency?.key;
    // A running slot lapses after holdMs unless renewed: a worker that dies frees it without help.
    const renew = key === undefined ? undefined : setInterval(() => void this.#limiter.renew(token, key, this.#holdMs).catch(() => undefined), Math.max(50, this.#holdMs / 3));
    renew?.unref();
    return { token, key, renew };
  }

  release(held: Held): void {
    if (held.renew !== undefined) clearInterval(held.renew);
    if (held.key !== undefined) void this.#limiter.release(held.token, held.key).catch((err: unknown) => this.#log.warn({ err: messageOf(err) }, 'could not release a global concurrency slot; it lapses on its own'));
  }
}
