/**
 * What the memory plugin's control plane reads: the live tasks (queued, delayed, running) with
 * per-queue counters, and the records by queue and status in write order. Both are updated by
 * the transition that changes them, so counts are map sizes and counters, never scans.
 */
import type { TaskMessage, TaskRecord, TaskStatusName } from '../../core/record.js';

export type LiveState = 'waiting' | 'delayed' | 'running' | 'retrying';

export interface LiveTask {
  readonly message: TaskMessage;
  /** The queue entry that is current; older heap entries of the same id are stale and skipped. */
  readonly seq: number;
  readonly deliveries: number;
  /** Of those, how many were lost with their worker (`Delivery.lost`). */
  readonly lost: number;
  /** In the delay schedule (not yet in its ready queue). */
  readonly delayed: boolean;
  state: LiveState;
}

export type LiveCounts = Record<LiveState, number>;

export class LiveTasks {
  readonly #byId = new Map<string, LiveTask>();
  readonly #counts = new Map<string, LiveCounts>();

  get(id: string): LiveTask | undefined {
    return this.#byId.get(id);
  }

  /** Whether the heap entry (`id`, `seq`) is the task's current one. */
  current(id: string, seq: number): boolean {
    return this.#byId.get(id)?.seq === seq;
  }

  put(message: TaskMessage, seq: number, deliveries: number, delayed: boolean, lost = 0): void {
    this.drop(message.id);
    const state: LiveState = deliveries > 0 ? 'retrying' : delayed ? 'delayed' : 'waiting';
    this.#byId.set(message.id, { message, seq, deliveries, lost, delayed, state });
    this.#of(message.queue)[state]++;
  }

  running(id: string): void {
    const task = this.#byId.get(id);
    if (task === undefined) return;
    const counts = this.#of(task.message.queue);
    counts[task.state]--;
    task.state = 'running';
    counts.running++;
  }

  drop(id: string): void {
    const task = this.#byId.get(id);
    if (task === undefined) return;
    this.#byId.delete(id);
    this.#of(task.message.queue)[task.state]--;
  }

  counts(queue: string): Readonly<LiveCounts> {
    return this.#counts.get(queue) ?? { waiting: 0, delayed: 0, running: 0, retrying: 0 };
  }

  queues(): string[] {
    return [...this.#counts.keys()];
  }

  /** Tasks of `queue` (a purge: rare, so a scan is fine). */
  *inQueue(queue: string): Iterable<LiveTask> {
    for (const task of this.#byId.values()) if (task.message.queue === queue) yield task;
  }

  #of(queue: string): LiveCounts {
    let counts = this.#counts.get(queue);
    if (counts === undefined) this.#counts.set(queue, (counts = { waiting: 0, delayed: 0, running: 0, retrying: 0 }));
    return counts;
  }
}

/** Record ids per queue and status, oldest write first (a Set keeps insertion order). */
export class RecordIndex {
  readonly #sets = new Map<string, Map<TaskStatusName, Set<string>>>();

  add(record: TaskRecord): void {
    this.#set(record.queue, record.status).add(record.id);
  }

  remove(record: TaskRecord): void {
    this.#sets.get(record.queue)?.get(record.status)?.delete(record.id);
  }

  /** A record was rewritten: it moves to its new status, as the newest there. */
  move(before: TaskRecord, after: TaskRecord): void {
    this.remove(before);
    this.add(after);
  }

  size(queue: string, status: TaskStatusName): number {
    return this.#sets.get(queue)?.get(status)?.size ?? 0;
  }

  /** Up to `n` ids, oldest first. */
  oldest(queue: string, status: TaskStatusName, n: number): string[] {
    const out: string[] = [];
    if (n <= 0) return out;
    for (const id of this.#sets.get(queue)?.get(status) ?? []) {
      out.push(id);
      if (out.length >= n) break;
    }
    return out;
  }

  /** Every id of `status` in `queue`, newest first. */
  newestFirst(queue: string, status: TaskStatusName): string[] {
    return [...(this.#sets.get(queue)?.get(status) ?? [])].reverse();
  }

  queues(): string[] {
    return [...this.#sets.keys()];
  }

  #set(queue: string, status: TaskStatusName): Set<string> {
    let byStatus = this.#sets.get(queue);
    if (byStatus === undefined) this.#sets.set(queue, (byStatus = new Map()));
    let set = byStatus.get(status);
    if (set === undefined) byStatus.set(status, (set = new Set()));
    return set;
  }
}
