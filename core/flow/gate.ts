/**
 * The worker's flow gate: before a delivery of a task with `rateLimit` or `globalConcurrency`
 * (or from a queue with them, `app.queue`) runs, it takes the app-wide slots from the global config's limiter (GlobalConfig.limiter). A
 * delivery that finds no slot is held (it keeps its place and its lease) and asks again when the
 * limiter says a slot may be free; it is never requeued in a loop. Tasks without limits never
 * reach the limiter. A queue's limits without `key` go to a broker that holds them in its claim
 * (`Broker.claimLimits`, splitQueueLimits) and skip the gate.
 */
import { randomUUID } from 'node:crypto';
import type { ConcurrencyLimit, FlowLimits, Limiter, QueueClaimLimits, RateLimitSlot } from '../contracts.js';
import { ErrorCodes, QTasksError, messageOf } from '../errors.js';
import type { LoggerLike } from '../logger.js';
import type { TaskMessage } from '../record.js';
import type { TaskDefinition } from '../task.js';
import type { QueueOptions } from './queues.js';

/** The running slots taken by one delivery; released once it settles. */
export interface Held {
  readonly token: string;
  readonly keys: readonly string[];
  readonly renew: NodeJS.Timeout | undefined;
}

const NEXT_TRY_MAX_MS = 1_000;

type Limits = Pick<QueueOptions, 'rateLimit' | 'globalConcurrency'>;

/** Queue limits split between the broker's claim and the worker's gate (splitQueueLimits). */
export interface QueueLimitSplit {
  /** Per queue, what the claim holds; undefined when nothing (the broker has no `claimLimits`, or no queue has limits). */
  readonly claim: ReadonlyMap<string, QueueClaimLimits> | undefined;
  /** Per queue, what is left to the gate; undefined when nothing. */
  readonly gate: ReadonlyMap<string, QueueOptions> | undefined;
}

/**
 * Splits the queues' limits (`app.queue`) for a worker consuming `consumed`: with `claimLimits`, a
 * broker holds a queue's `globalConcurrency` and its `rateLimit` without `key` in the claim (they
 * are known before the task is); a keyed rate limit depends on the args, so it stays in the gate.
 */
export function splitQueueLimits(queues: ReadonlyMap<string, QueueOptions> | undefined, claimLimits: boolean, consumed: readonly string[]): QueueLimitSplit {
  if (queues === undefined) return { claim: undefined, gate: undefined };
  if (!claimLimits) return { claim: undefined, gate: queues };
  const claim = new Map<string, QueueClaimLimits>();
  const gate = new Map<string, QueueOptions>();
  for (const [queue, o] of queues) {
    const r = o.rateLimit;
    if (r?.key !== undefined) gate.set(queue, { rateLimit: r });
    const rate = r !== undefined && r.key === undefined ? { max: r.max, perMs: r.perMs } : undefined;
    if (!consumed.includes(queue) || (rate === undefined && o.globalConcurrency === undefined)) continue;
    claim.set(queue, { ...(o.globalConcurrency !== undefined ? { globalConcurrency: o.globalConcurrency } : {}), ...(rate !== undefined ? { rate } : {}) });
  }
  return { claim: claim.size > 0 ? claim : undefined, gate: gate.size > 0 ? gate : undefined };
}

/** Per queue, the rate slot its claim takes (keys `q:<queue>`, as the gate's own would be). */
export function claimedRates(claim: ReadonlyMap<string, QueueClaimLimits> | undefined): ReadonlyMap<string, RateLimitSlot> | undefined {
  if (claim === undefined) return undefined;
  const out = new Map<string, RateLimitSlot>();
  for (const [queue, l] of claim) if (l.rate !== undefined) out.set(queue, { key: `q:${queue}`, max: l.rate.max, perMs: l.rate.perMs });
  return out.size > 0 ? out : undefined;
}

/**
 * The limits one call of `def` asks for at the gate: its task's (keys `t:<name>`) and those of the
 * queue it runs from in `queues` (the gate's part of `app.queue` limits, keys `q:<queue>`);
 * undefined when there are none (the usual case).
 */
export function limitsOf(def: TaskDefinition, message: TaskMessage, queues?: ReadonlyMap<string, QueueOptions>): FlowLimits | undefined {
  const own = def.options.rateLimit !== undefined || def.options.globalConcurrency !== undefined;
  const queue = queues?.get(message.queue);
  if (!own && queue === undefined) return undefined;
  const concurrency: ConcurrencyLimit[] = [];
  const rate: RateLimitSlot[] = [];
  const add = (limits: Limits, key: string): void => {
    if (limits.globalConcurrency !== undefined) concurrency.push({ key, limit: limits.globalConcurrency });
    const r = limits.rateLimit;
    if (r === undefined) return;
    let rateKey = key;
    if (r.key !== undefined) rateKey += `:${String((r.key as (...a: unknown[]) => unknown)(...message.args))}`;
    rate.push({ key: rateKey, max: r.max, perMs: r.perMs });
  };
  if (own) add(def.options, `t:${def.name}`);
  if (queue !== undefined) add(queue, `q:${message.queue}`);
  return { ...(concurrency.length > 0 ? { concurrency } : {}), ...(rate.length > 0 ? { rate } : {}) };
}

/** Fails the worker's start when a task or a queue (its gate part, `queues`) has limits and the global config keeps no counters. */
export function requireLimiter(tasks: Iterable<TaskDefinition>, limiter: Limiter | undefined, globalConfig: string, queues?: ReadonlyMap<string, QueueOptions>): void {
  if (limiter !== undefined) return;
  const unsupported = (what: string): QTasksError =>
    new QTasksError(
      ErrorCodes.UNSUPPORTED,
      `${what} has rateLimit or globalConcurrency, which need app-wide counters; global config "${globalConfig}" keeps none shared by every worker of the app (use redis() for the global config, or memory() for everything)`,
    );
  for (const def of tasks) {
    if (def.options.rateLimit !== undefined || def.options.globalConcurrency !== undefined) throw unsupported(`task "${def.name}"`);
  }
  if (queues !== undefined && queues.size > 0) throw unsupported(`queue "${[...queues.keys()][0]!}"`);
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

  /**
   * Waits until the slots are taken; undefined if `gone()` became true first (the worker stopped).
   * `claimed`: the rate slot its queue's claim took for it (`Broker.claimLimits`), counted at the
   * claim; a delivery that has to wait here starts later than that, so it takes a slot of the
   * same window again for its real start (counted twice: the queue's limit holds as handlers see it).
   */
  async take(limits: FlowLimits, gone: () => boolean, claimed?: RateLimitSlot): Promise<Held | undefined> {
    const token = randomUUID();
    let asked = limits;
    for (;;) {
      if (gone()) return undefined;
      let waitMs: number;
      try {
        waitMs = await this.#limiter.acquire(token, asked, this.#holdMs);
      } catch (err) {
        this.#log.warn({ err: messageOf(err) }, 'flow limiter unavailable; asking again');
        waitMs = NEXT_TRY_MAX_MS;
      }
      if (waitMs <= 0) break;
      if (claimed !== undefined && asked === limits) asked = { ...limits, rate: [...(limits.rate ?? []), claimed] };
      await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(1, waitMs), NEXT_TRY_MAX_MS)));
    }
    const keys = (limits.concurrency ?? []).map((c) => c.key);
    // A running slot lapses after holdMs unless renewed: a worker that dies frees it without help.
    const renew =
      keys.length === 0
        ? undefined
        : setInterval(() => {
            for (const key of keys) void this.#limiter.renew(token, key, this.#holdMs).catch(() => undefined);
          }, Math.max(50, this.#holdMs / 3));
    renew?.unref();
    return { token, keys, renew };
  }

  release(held: Held): void {
    if (held.renew !== undefined) clearInterval(held.renew);
    for (const key of held.keys) {
      void this.#limiter.release(held.token, key).catch((err: unknown) => this.#log.warn({ err: messageOf(err) }, 'could not release a global concurrency slot; it lapses on its own'));
    }
  }
}
