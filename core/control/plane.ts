/**
 * The kernel side of the control plane: checks what callers pass, wraps plugin cursors so a
 * cursor cannot be replayed against another query, turns a missing capability into a clear
 * QTASKS_ERR_UNSUPPORTED, and composes what a broker without records cannot do alone.
 */
import type { QueueTasks } from '../app.js';
import type { Broker, CancelFound, Retention, Control, ControlCapability, ListStatus, QueueCounts, Storage } from '../contracts.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import { TaskStatus, isFinal, type TaskMessage, type TaskRecord } from '../record.js';

export interface ListOptions {
  readonly status: ListStatus;
  readonly queue?: string;
  readonly name?: string;
  /** 1..1000 (default 50). */
  readonly limit?: number;
  /** `cursor` of the previous page of the same query. */
  readonly cursor?: string;
}

export interface ListResult {
  /** Newest first (waiting tasks: the last to run first). */
  readonly records: TaskRecord[];
  /** Pass it back for the next page; absent on the last page. */
  readonly cursor?: string;
}

export interface RetryFilter {
  readonly status: 'dead' | 'error';
  readonly queue?: string;
  readonly name?: string;
  /** At most this many (default 1000). */
  readonly limit?: number;
}

export interface CleanOptions {
  readonly status: 'success' | 'error' | 'cancel' | 'dead';
  readonly olderThanMs: number;
  /** At most this many (default 1000). */
  readonly limit?: number;
}

const STATUSES = new Set<string>(Object.values(TaskStatus));
const MAX_LIMIT = 1000;

interface PlaneParts {
  readonly broker: Broker;
  readonly storage: Storage;
  readonly fused: boolean;
}

export class ControlPlane {
  readonly #app: QueueTasks;
  readonly #parts: PlaneParts;
  readonly #control: Control | undefined;

  constructor(app: QueueTasks, parts: PlaneParts) {
    this.#app = app;
    this.#parts = parts;
    this.#control = parts.broker.control;
  }

  /** The control if it offers `capability`, else the unsupported error. */
  require(capability: ControlCapability): Control {
    const control = this.#control;
    if (control !== undefined && control.capabilities.has(capability)) return control;
    throw this.unsupported(capability);
  }

  unsupported(capability: ControlCapability): QTasksError {
    const c = this.#control;
    const { broker, storage } = this.#parts;
    const setup = `broker "${broker.name}" with storage "${storage.name}"`;
    const instead = c?.alternatives ?? 'memory() or redis() as both broker and storage';
    return new QTasksError(
      ErrorCodes.UNSUPPORTED,
      `${capability} is not supported by plugin "${c?.name ?? broker.name}" (${setup}); it is offered by ${instead} (see docs/operations.md)`,
    );
  }

  async counts(queue?: string): Promise<QueueCounts[]> {
    if (queue !== undefined) checkName('queue', queue);
    return this.require('counts').counts(queue === undefined ? undefined : [queue]);
  }

  async list(options: ListOptions): Promise<ListResult> {
    if (options === null || typeof options !== 'object') throw invalid('list: options { status, queue?, name?, limit?, cursor? } are required');
    const { status, queue, name, cursor } = options;
    if (typeof status !== 'string' || !STATUSES.has(status)) throw invalid(`list: status must be one of ${[...STATUSES].join(', ')}, got ${JSON.stringify(status)}`);
    if (queue !== undefined) checkName('queue', queue);
    if (name !== undefined) checkName('name', name);
    const limit = checkLimit('list', options.limit, 50);
    const control = this.require('list');
    const key = `${status}\u0000${queue ?? ''}\u0000${name ?? ''}`;
    const page = await control.list({ status, limit, ...(queue !== undefined ? { queue } : {}), ...(name !== undefined ? { name } : {}), ...(cursor !== undefined ? { cursor: unwrap(cursor, key) } : {}) });
    const records = this.#app.hooks.storage.afterGet.isUsed() ? page.records.map((r) => this.#app.hooks.storage.afterGet.call(r)) : page.records;
    return page.cursor === undefined ? { records } : { records, cursor: wrap(page.cursor, key) };
  }

  async cancel(id: string, reason = 'cancelled'): Promise<CancelFound> {
    checkName('id', id);
    if (typeof reason !== 'string') throw invalid(`cancel: reason must be a string, got ${typeof reason}`);
    const found = await this.require('cancel').cancel(id, reason);
    if (this.#parts.fused) return found;
    // The broker keeps no records: the kernel writes the cancel, and answers final/unknown from storage.
    const storage = this.#parts.storage;
    const record = await storage.get(id);
    if (found === 'queued') {
      if (record !== undefined && !isFinal(record.status)) {
        const now = Date.now();
        await storage.save({ ...record, status: TaskStatus.CANCEL, updatedAt: now, finishedAt: now, runAt: undefined, reason }, { ttlMs: this.#app.config.resultTtlMs });
      }
      return found;
    }
    if (found === 'unknown' && record !== undefined && isFinal(record.status)) return 'final';
    return found;
  }

  /** Retries one task (by id) or every task matching a filter; returns how many were queued again. */
  async retry(target: string | RetryFilter): Promise<number> {
    const control = this.require('retry');
    if (typeof target === 'string') {
      checkName('id', target);
      const record = await this.#parts.storage.get(target);
      if (record === undefined) throw new QTasksError(ErrorCodes.INVALID_STATE, `retry: no task ${target} (unknown, or its record expired)`);
      if (record.status !== TaskStatus.ERROR && record.status !== TaskStatus.DEAD) {
        throw new QTasksError(ErrorCodes.INVALID_STATE, `retry: task ${target} is ${record.status}; only tasks in error or dead can be retried`);
      }
      return (await control.retry(this.#messageOf(record))) ? 1 : 0;
    }
    if (target === null || typeof target !== 'object' || (target.status !== 'dead' && target.status !== 'error')) {
      throw invalid(`retry: pass a task id or { status: 'dead' | 'error', queue?, name?, limit? }`);
    }
    const limit = checkLimit('retry', target.limit, MAX_LIMIT, Infinity);
    let done = 0;
    // Retried records leave the status, so the first page is always the next one.
    while (done < limit) {
      const page = await this.list({ status: target.status, limit: Math.min(100, limit - done), ...(target.queue !== undefined ? { queue: target.queue } : {}), ...(target.name !== undefined ? { name: target.name } : {}) });
      if (page.records.length === 0) break;
      let progressed = 0;
      for (const record of page.records) if (await control.retry(this.#messageOf(record))) progressed++;
      done += progressed;
      if (progressed === 0) break;
    }
    return done;
  }

  async promote(id: string): Promise<boolean> {
    checkName('id', id);
    return this.require('promote').promote(id);
  }

  async remove(id: string): Promise<boolean> {
    checkName('id', id);
    return this.require('remove').remove(id);
  }

  async clean(options: CleanOptions): Promise<number> {
    if (options === null || typeof options !== 'object' || !['success', 'error', 'cancel', 'dead'].includes(options.status)) {
      throw invalid(`clean: status must be one of success, error, cancel, dead, got ${JSON.stringify(options?.status)}`);
    }
    if (typeof options.olderThanMs !== 'number' || !(options.olderThanMs >= 0) || !Number.isFinite(options.olderThanMs)) {
      throw invalid(`clean: olderThanMs must be a number >= 0, got ${String(options.olderThanMs)}`);
    }
    const limit = checkLimit('clean', options.limit, MAX_LIMIT, Infinity);
    return this.require('clean').clean(options.status, options.olderThanMs, limit);
  }

  async purge(queue: string): Promise<number> {
    checkName('queue', queue);
    return this.require('purge').purge(queue);
  }

  async setPaused(queue: string | undefined, paused: boolean): Promise<void> {
    const control = this.require('pause');
    if (queue === undefined) return control.setPaused('*', paused);
    checkName('queue', queue);
    if (!(await this.#knows(queue, control))) {
      throw new QTasksError(ErrorCodes.UNKNOWN_QUEUE, `${paused ? 'pause' : 'resume'}: no task, config or broker of app "${this.#app.name}" knows queue "${queue}"`);
    }
    return control.setPaused(queue, paused);
  }

  /** A queue is known if this app's config or tasks name it, or the broker has seen tasks in it. */
  async #knows(queue: string, control: Control): Promise<boolean> {
    const config = this.#app.config;
    if (queue === config.defaultQueue || config.queues.includes(queue)) return true;
    for (const def of this.#app.tasks.values()) if (def.options.queue === queue) return true;
    if (!control.capabilities.has('counts')) return false;
    return (await control.counts(undefined)).some((c) => c.queue === queue);
  }

  /** The message to queue again for a finished record: fresh attempts, this app's delivery limit. */
  #messageOf(record: TaskRecord): TaskMessage {
    const def = this.#app.tasks.get(record.name);
    return {
      id: record.id,
      name: record.name,
      queue: record.queue,
      args: record.args,
      priority: record.priority,
      createdAt: record.createdAt,
      maxDeliveries: (def?.options.retry ?? 0) + 1 + this.#app.config.extraDeliveries,
      ...(record.meta !== undefined ? { meta: record.meta } : {}),
    };
  }
}

function invalid(message: string): QTasksError {
  return new QTasksError(ErrorCodes.INVALID_OPTION, message);
}

function checkName(what: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw invalid(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
}

function checkLimit(what: string, limit: unknown, fallback: number, max = MAX_LIMIT): number {
  if (limit === undefined) return fallback;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw invalid(`${what}: limit must be a whole number from 1 to ${max}, got ${String(limit)}`);
  }
  return limit;
}

// A cursor carries the query it belongs to; one from another query (or not a cursor) is refused.
function wrap(cursor: string, key: string): string {
  return Buffer.from(JSON.stringify([key, cursor])).toString('base64url');
}

function unwrap(cursor: unknown, key: string): string {
  let parsed: unknown;
  try {
    parsed = typeof cursor === 'string' ? JSON.parse(Buffer.from(cursor, 'base64url').toString()) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[1] !== 'string') {
    throw new QTasksError(ErrorCodes.INVALID_CURSOR, `list: ${JSON.stringify(cursor)} is not a cursor returned by app.list`);
  }
  if (parsed[0] !== key) throw new QTasksError(ErrorCodes.INVALID_CURSOR, 'list: this cursor belongs to another query (status, queue or name differ)');
  return parsed[1];
}

/** Checks a retention option: whole numbers >= 0 per final status. */
export function checkRetention(plugin: string, retention: Retention | undefined): Retention {
  for (const [status, keep] of Object.entries(retention ?? {})) {
    if (!['success', 'error', 'cancel', 'dead'].includes(status) || typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `${plugin} plugin: retention.${status} must be a whole number >= 0 for one of success, error, cancel, dead; got ${String(keep)}`);
    }
  }
  return retention ?? {};
}
