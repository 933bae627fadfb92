/**
 * A worker's side of the registry (GlobalConfig heartbeats): what it says about itself, the
 * warning when live workers of the same app serve another task set, and, for a task it does not
 * know, whether a live worker that does is listening on the task's queue (then the task is left
 * to it instead of failing with UNKNOWN_TASK).
 */
import { hostname } from 'node:os';
import type { GlobalConfig, WorkerInfo } from './contracts.js';
import { messageOf } from './errors.js';
import type { LoggerLike } from './logger.js';

export interface Self {
  readonly id: string;
  readonly app: string;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly tasks: readonly string[];
  readonly running: () => number;
}

/** A task that comes back to a worker that gave it back is held longer each time (ms). */
const HANDBACK_BASE_MS = 50;
const HANDBACK_MAX_MS = 1_000;
const HANDBACKS_REMEMBERED = 1_000;

export class WorkerRegistry {
  readonly #gc: GlobalConfig;
  readonly #self: Self;
  readonly #log: LoggerLike;
  readonly #host = hostname();
  readonly #startedAt = Date.now();
  readonly #maxAgeMs: number;
  #peers: { at: number; list: Promise<WorkerInfo[]> } | undefined;
  #reading: Promise<WorkerInfo[]> | undefined;
  readonly #handbacks = new Map<string, number>();

  constructor(gc: GlobalConfig, self: Self, log: LoggerLike, heartbeatMs: number) {
    this.#gc = gc;
    this.#self = self;
    this.#log = log;
    // Peers beat every heartbeatMs: a fresher view than that would not say more.
    this.#maxAgeMs = Math.min(1_000, heartbeatMs);
  }

  info(): WorkerInfo {
    const s = this.#self;
    return { id: s.id, app: s.app, host: this.#host, pid: process.pid, queues: s.queues, concurrency: s.concurrency, running: s.running(), tasks: s.tasks, startedAt: this.#startedAt, lastHeartbeat: Date.now() };
  }

  async beat(ttlMs: number): Promise<void> {
    try {
      await this.#gc.heartbeat(this.info(), ttlMs);
    } catch (err) {
      this.#log.warn({ err }, 'heartbeat failed');
    }
  }

  async leave(): Promise<void> {
    try {
      await this.#gc.leave(this.#self.id);
    } catch (err) {
      this.#log.warn({ err: messageOf(err) }, 'could not leave the worker registry; the entry expires with its heartbeat');
    }
  }

  /** Logs a warning for each live worker of this app whose task set differs from ours. */
  async warnConflicts(): Promise<void> {
    const mine = new Set(this.#self.tasks);
    for (const peer of await this.#list(true)) {
      if (peer.id === this.#self.id) continue;
      const theirs = new Set(peer.tasks);
      const onlyHere = [...mine].filter((t) => !theirs.has(t));
      const onlyThere = [...theirs].filter((t) => !mine.has(t));
      if (onlyHere.length === 0 && onlyThere.length === 0) continue;
      this.#log.warn(
        { worker: `${this.#self.id} (${this.#host} pid ${process.pid})`, other: `${peer.id} (${peer.host} pid ${peer.pid})`, onlyHere, onlyThere },
        `workers of app "${this.#self.app}" serve different task sets: worker ${this.#self.id} on ${this.#host} pid ${process.pid} and worker ${peer.id} on ${peer.host} pid ${peer.pid}; each leaves the other's tasks to it, and fails them only when no live worker knows them`,
      );
    }
  }

  /** Whether another live worker of this app serves task `name` on `queue`. */
  async knownElsewhere(name: string, queue: string): Promise<boolean> {
    const knows = (p: WorkerInfo): boolean => p.id !== this.#self.id && p.tasks.includes(name) && p.queues.includes(queue);
    if ((await this.#list(false)).some(knows)) return true;
    // Failing the task cannot be undone: look again (a worker that just started is not in a
    // list read before it did). Reads in flight are shared, so a flood costs one per round trip.
    return (await this.#fresh()).some(knows);
  }

  #fresh(): Promise<WorkerInfo[]> {
    this.#reading ??= this.#list(true).finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  /** How long to hold task `id` before giving it back: 0 the first time, longer each time it comes back here. */
  handbackDelay(id: string): number {
    const n = this.#handbacks.get(id) ?? 0;
    this.#handbacks.delete(id);
    this.#handbacks.set(id, n + 1);
    if (this.#handbacks.size > HANDBACKS_REMEMBERED) this.#handbacks.delete(this.#handbacks.keys().next().value!);
    if (n === 0) return 0;
    // Jitter, so two ignorant workers do not keep meeting the same task at the same moment.
    const base = Math.min(HANDBACK_MAX_MS, HANDBACK_BASE_MS * 2 ** (n - 1));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  /** The live workers, cached briefly: an unknown task is a rare path, a flood of them must not be a flood of reads. */
  #list(fresh: boolean): Promise<WorkerInfo[]> {
    const now = Date.now();
    if (fresh || this.#peers === undefined || now - this.#peers.at > this.#maxAgeMs) {
      const list = this.#gc.workers().catch((err: unknown) => {
        this.#log.warn({ err: messageOf(err) }, 'could not list the live workers');
        if (this.#peers?.list === list) this.#peers = undefined;
        return [];
      });
      this.#peers = { at: now, list };
    }
    return this.#peers.list;
  }
}
