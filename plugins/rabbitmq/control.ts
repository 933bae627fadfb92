/**
 * The RabbitMQ control plane (docs/rabbitmq.md, "Control plane"). AMQP offers no way to find,
 * count, move or delete a queued message by id, so what needs that comes from a storage that
 * keeps status indexes (`Storage.index`):
 *
 * - counts: ready messages per work queue (passive declare), the rest from the indexes; list,
 *   clean from the indexes; retry: the record back to `new`, then published again; remove: the
 *   record deleted and a queued copy revoked (as cancel, reason `removed`); purge: the server
 *   queues it can name purged, then the queue's waiting records deleted and their ids revoked;
 * - promote: a copy marked with a fresh copy id is published now and the id is announced (control
 *   exchange, and global config for workers started later): any other copy of the task (the
 *   delayed one) is dropped on receipt;
 * - cancel: a running task is signalled through the control exchange (its worker aborts it,
 *   wherever it runs); a queued or delayed one is revoked: every worker keeps the revoked ids it
 *   heard of and drops such a message on receipt, and a worker started after a revocation checks
 *   the stored record of messages created before it (the record is `cancel`);
 * - pause: a flag per queue in the app's global config (so a worker started later reads it) and a
 *   message on the control exchange (so running workers stop consuming that queue at once);
 * - events: published on the app's topic exchange by the process where they happen;
 * - progress: fenced on the delivery this process runs, sent as an event (the kernel stores it).
 */
import { randomUUID } from 'node:crypto';
import type { CancelFound, ComponentContext, Control, ControlCapability, ControlListPage, ControlListQuery, GlobalConfig, ListStatus, QueueCounts, Storage, StorageIndex, TaskEvent, TaskEventType } from '../../core/contracts.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import { TaskStatus, isFinal, messageToRecord, type TaskMessage, type TaskRecord } from '../../core/record.js';
import { BoundedMap } from './bounded-map.js';
import { COPY_HEADER, DELIVERIES_HEADER } from './broker.js';
import type { ControlExchange } from './control-exchange.js';

const ALWAYS: ControlCapability[] = ['events', 'progress'];
/** Cancel reads records of other processes; pause keeps a flag that workers started later read. */
const ALL = new Set<ControlCapability>([...ALWAYS, 'cancel', 'pause']);
const NO_CANCEL = new Set<ControlCapability>([...ALWAYS, 'pause']);
const NO_PAUSE = new Set<ControlCapability>([...ALWAYS, 'cancel']);
const ALONE = new Set<ControlCapability>(ALWAYS);
/** What a storage with status indexes (`Storage.index`) adds. */
const INDEXED: ControlCapability[] = ['counts', 'list', 'retry', 'remove', 'clean', 'purge'];
/** Records purge reads per page. */
const PURGE_PAGE = 1000;
/** The storage RabbitMQ supplies when nothing else does: it knows this process's tasks only. */
const REPLY_STORAGE = 'rabbitmq-reply';
/** Revoked ids a process remembers (oldest forgotten first). */
const MAX_REVOKED = 100_000;
/** Clock skew allowed between the process that revokes and the one that publishes. */
const SKEW_MS = 2_000;
const PAUSED_KEY = 'rabbitmq:paused:';
/** + task id: the copy id promote published (other copies are dropped). */
const PROMOTED_KEY = 'rabbitmq:promoted:';
const PROMOTED_AT_KEY = 'rabbitmq:promoted-at';
const REVOKED_AT_KEY = 'rabbitmq:revoked-at';

type ControlMessage =
  /** With `token`, every consuming process answers `applied` (with `holds`) once it applied it. */
  | { k: 'cancel'; id: string; reason: string; token?: string }
  /** Only copy `copy` of task `id` may run. */
  | { k: 'promote'; id: string; copy: string }
  | { k: 'pause'; queue: string; paused: boolean; token: string }
  /** A consuming process applied the pause or cancel message `token`; `holds`: it runs (or is starting) the task. */
  | { k: 'applied'; token: string; holds?: boolean };
/** How long `pause`/`resume` wait for every live worker to say it applied the change. */
const APPLY_WAIT_MS = 1_500;

/** What the control reads from the app it belongs to (available once the app started). */
export interface ControlParts {
  storage(): Storage | undefined;
  globalConfig(): GlobalConfig | undefined;
  /** Whether a plugin supplies the global config (else the kernel's per-app memory one). */
  sharedGlobalConfig(): boolean;
  /** Publishes a task again (retry), as `addTask` would. */
  publish(message: TaskMessage, record: TaskRecord): Promise<void>;
  /** Publishes a copy now, straight to the work queue, with these AMQP headers (promote). */
  publishCopy(message: TaskMessage, record: TaskRecord, headers: Record<string, unknown>): Promise<void>;
}

export class RabbitControl implements Control {
  readonly name = 'rabbitmq';
  get capabilities(): ReadonlySet<ControlCapability> {
    const cancel = this.#parts.storage()?.name !== REPLY_STORAGE;
    const pause = this.#parts.sharedGlobalConfig();
    const base = cancel ? (pause ? ALL : NO_PAUSE) : pause ? NO_CANCEL : ALONE;
    if (this.#parts.storage()?.index === undefined) return base;
    // promote's mark must reach workers started later: a shared global config keeps it
    return new Set([...base, ...INDEXED, ...(pause ? (['promote'] as const) : [])]);
  }

  /** The storage's status indexes, or the unsupported error for `capability`. */
  #index(capability: ControlCapability): StorageIndex {
    const index = this.#parts.storage()?.index;
    if (index === undefined) throw this.#unsupported(capability);
    return index;
  }

  get alternatives(): string {
    const extra = this.capabilities.size < ALL.size + INDEXED.length + 1 ? 'rabbitmq() with redis({ broker: false }) for storage and global config (counts, list, retry, promote, remove, clean, purge, cancel, pause), or ' : '';
    return `${extra}redis() or memory() as both broker and storage (AMQP cannot move or delete a queued message by id; see docs/rabbitmq.md)`;
  }
  readonly #exchange: ControlExchange;
  readonly #parts: ControlParts;
  readonly #revoked = new BoundedMap<string, string>(MAX_REVOKED);
  /** Promoted task id -> the copy that may run. */
  readonly #promoted = new BoundedMap<string, string>(MAX_REVOKED);
  /** Messages created before this (epoch ms) may have been promoted before this process listened. */
  #promoteCheckBefore = 0;
  /** Deliveries this process runs now (past their revocation check): id -> attempt (the progress fence). */
  readonly running = new Map<string, number>();
  /** Set once a worker of this process consumes: it then answers cancel requests (see cancel). */
  consuming = false;
  readonly #paused = new Set<string>();
  readonly #cancelListeners = new Set<(id: string, reason: string) => void>();
  readonly #pauseListeners = new Set<(token: string | undefined) => void>();
  /** pause/resume/cancel calls of this process waiting for workers to apply them: token -> on one reply. */
  readonly #applying = new Map<string, (holds: boolean) => void>();
  #listening: Promise<() => Promise<void>> | undefined;
  /** Pause messages heard so far. */
  #changes = 0;
  /** Messages created before this (epoch ms) may have been revoked before this process listened. */
  #checkBefore = 0;
  #ctx: ComponentContext | undefined;

  constructor(exchange: ControlExchange, parts: ControlParts) {
    this.#exchange = exchange;
    this.#parts = parts;
  }

  start(ctx: ComponentContext): void {
    this.#ctx = ctx;
  }

  // --- what a worker of this process uses (controlled-broker.ts) ---

  /** Listens to the control exchange (once per process), then reads what global config keeps. */
  async listen(): Promise<void> {
    if (this.#listening === undefined) {
      this.#listening = this.#exchange.listen(this.#exchange.control, '', (body) => this.#apply(body as ControlMessage));
      await this.#listening;
      const since = Date.now();
      const revokedAt = Number((await this.#parts.globalConfig()?.get(REVOKED_AT_KEY)) ?? 0);
      this.#checkBefore = revokedAt > 0 ? Math.min(since, revokedAt) + SKEW_MS : 0;
      const promotedAt = Number((await this.#parts.globalConfig()?.get(PROMOTED_AT_KEY)) ?? 0);
      this.#promoteCheckBefore = promotedAt > 0 ? Math.min(since, promotedAt) + SKEW_MS : 0;
    } else {
      await this.#listening;
    }
  }

  /** Reads the pause flags of `queues` (and of all queues), listening first so no change is missed. */
  async loadPaused(queues: readonly string[]): Promise<void> {
    await this.listen();
    const gc = this.#parts.globalConfig();
    for (const q of ['*', ...queues]) {
      const seen = this.#changes;
      const flag = (await gc?.get(PAUSED_KEY + q)) === '1';
      // a message heard meanwhile is newer than what was read
      if (this.#changes !== seen) continue;
      if (flag) this.#paused.add(q);
      else this.#paused.delete(q);
    }
    this.#notifyPause();
  }

  #apply(m: ControlMessage): void {
    if (m === null || typeof m !== 'object') return;
    if (m.k === 'cancel' && typeof m.id === 'string') {
      const reason = typeof m.reason === 'string' ? m.reason : 'cancelled';
      // From here no delivery of the task starts in this process (ControlledBroker checks again
      // right before running); one already started is settled cancel by its worker (listeners).
      this.#revoked.set(m.id, reason);
      for (const l of this.#cancelListeners) l(m.id, reason);
      if (typeof m.token === 'string' && this.consuming) {
        this.#exchange.send(this.#exchange.control, '', { k: 'applied', token: m.token, holds: this.running.has(m.id) } satisfies ControlMessage);
      }
    } else if (m.k === 'promote' && typeof m.id === 'string' && typeof m.copy === 'string') {
      this.#promoted.set(m.id, m.copy);
    } else if (m.k === 'pause' && typeof m.queue === 'string') {
      this.#changes++;
      if (m.paused) this.#paused.add(m.queue);
      else this.#paused.delete(m.queue);
      this.#notifyPause(typeof m.token === 'string' ? m.token : undefined);
    } else if (m.k === 'applied' && typeof m.token === 'string') {
      this.#applying.get(m.token)?.(m.holds === true);
    }
  }

  #notifyPause(token?: string): void {
    for (const l of this.#pauseListeners) l(token);
  }

  /** `token`: the pause message being applied, to confirm with `applied` once consumers follow it. */
  onPauseChange(listener: (token: string | undefined) => void): void {
    this.#pauseListeners.add(listener);
  }

  /** Tells the process that paused or resumed that this one's consumers follow the change. */
  applied(token: string): void {
    this.#exchange.send(this.#exchange.control, '', { k: 'applied', token } satisfies ControlMessage);
  }

  held(queue: string): boolean {
    return this.#paused.has('*') || this.#paused.has(queue);
  }

  /** The reason the task was revoked, as this process heard it (no storage read). */
  revokedNow(id: string): string | undefined {
    return this.#revoked.get(id);
  }

  /** The cancel reason if this message was revoked; `undefined` if it may run; a promise when storage must tell. */
  revocation(message: TaskMessage): string | undefined | Promise<string | undefined> {
    const reason = this.#revoked.get(message.id);
    if (reason !== undefined || message.createdAt > this.#checkBefore) return reason;
    const storage = this.#parts.storage();
    if (storage === undefined) return undefined;
    // With indexes every published task has a record first: none means it was removed or cleaned.
    const removed = storage.index !== undefined ? 'removed' : undefined;
    return storage.get(message.id).then(
      (r) => (r === undefined ? removed : r.status === TaskStatus.CANCEL ? (r.reason ?? 'cancelled') : undefined),
      () => undefined,
    );
  }

  /**
   * Whether this copy of the task was superseded by a promoted one (`copy`: its copy header);
   * a promise when global config must tell (a message older than this process's listening).
   */
  superseded(message: TaskMessage, copy: unknown): boolean | Promise<boolean> {
    const keep = this.#promoted.get(message.id);
    if (keep !== undefined) return keep !== copy;
    if (message.createdAt > this.#promoteCheckBefore) return false;
    const gc = this.#parts.globalConfig();
    if (gc === undefined) return false;
    return gc.get(PROMOTED_KEY + message.id).then(
      (k) => k !== undefined && k !== '' && k !== copy,
      () => false,
    );
  }

  /**
   * The delayed copy of a promoted task was dropped: nothing else needs the mark, so the global
   * config forgets it (one key per promote would otherwise stay forever). Copies of the promoted
   * copy carry its id and run without the mark.
   */
  async forgetPromoted(id: string): Promise<void> {
    await this.#parts.globalConfig()?.delete?.(PROMOTED_KEY + id);
  }

  emit(type: TaskEventType, message: Pick<TaskMessage, 'id' | 'name' | 'queue'>, attempt: number, extra?: { progress?: unknown; message?: string }): void {
    const event: TaskEvent = { type, id: message.id, name: message.name, queue: message.queue, attempt, at: Date.now(), ...extra };
    this.#exchange.sendEvent(type, message.queue, event);
  }

  // --- the Control contract ---

  /**
   * waiting: ready messages in the queue's server queue (revoked ones included until a worker
   * drops them); the rest from the storage's indexes (delayed: saved with a future start, not
   * started yet). Paused from the flag global config keeps.
   */
  async counts(queues: readonly string[] | undefined): Promise<QueueCounts[]> {
    const index = this.#index('counts');
    const gc = this.#parts.globalConfig();
    const all = (await gc?.get(PAUSED_KEY + '*')) === '1';
    const out: QueueCounts[] = [];
    for (const c of await index.counts(queues)) {
      const waiting = await this.#exchange.readyCount(this.#exchange.topo.workQueue(c.queue));
      const paused = all || (await gc?.get(PAUSED_KEY + c.queue)) === '1';
      out.push({ queue: c.queue, waiting, delayed: c.delayed, running: c.process, retrying: c.retry, dead: c.dead, success: c.success, error: c.error, cancel: c.cancel, paused });
    }
    return out;
  }

  async list(query: ControlListQuery): Promise<ControlListPage> {
    return this.#index('list').list(query);
  }

  /**
   * A running task: its worker is told. A queued one is revoked, and the answer waits until every
   * live worker applied the revocation (at most APPLY_WAIT_MS): from then on none starts the task,
   * and one that already started it says so (`holds`): then its worker settles the cancel and the
   * answer is 'running'; otherwise the caller (the kernel) writes the `cancel` record. Deciding on
   * storage reads alone let a worker that was starting the task meanwhile write `process` over
   * the cancel and settle it a second time.
   */
  async cancel(id: string, reason: string): Promise<CancelFound> {
    const storage = this.#parts.storage();
    const record = await storage?.get(id);
    if (record === undefined) return 'unknown';
    if (isFinal(record.status)) return 'final';
    if (record.status === TaskStatus.PROCESS) {
      await this.#exchange.publish(this.#exchange.control, '', { k: 'cancel', id, reason } satisfies ControlMessage);
      return 'running';
    }
    // Workers started from now on check older messages against storage.
    await this.#parts.globalConfig()?.set(REVOKED_AT_KEY, String(Date.now()));
    const { holds, complete } = await this.#confirmed((token) => ({ k: 'cancel', id, reason, token }));
    if (holds) return 'running';
    // A worker that did not answer (started meanwhile, or stuck) hears it now, before the record is read.
    if (!complete) await this.#exchange.publish(this.#exchange.control, '', { k: 'cancel', id, reason } satisfies ControlMessage);
    const now = await storage?.get(id);
    if (now !== undefined && now.status === TaskStatus.PROCESS) return 'running';
    if (now !== undefined && isFinal(now.status)) return 'final';
    this.emit('cancelled', record, record.attempts, { message: reason });
    return 'queued';
  }

  /**
   * Sends a control message carrying a fresh token and waits until every live worker of the app
   * answered it (`complete`), one answered `holds`, or APPLY_WAIT_MS passed.
   */
  async #confirmed(message: (token: string) => ControlMessage): Promise<{ holds: boolean; complete: boolean }> {
    await this.listen();
    const expected = (await this.#parts.globalConfig()?.workers())?.length ?? 0;
    const token = randomUUID();
    let replies = 0;
    let holds = false;
    let timer: NodeJS.Timeout | undefined;
    const all = new Promise<void>((resolve) => {
      this.#applying.set(token, (held) => {
        holds ||= held;
        if (++replies >= expected || held) resolve();
      });
      timer = setTimeout(resolve, APPLY_WAIT_MS);
    });
    try {
      await this.#exchange.publish(this.#exchange.control, '', message(token));
      if (expected > 0) await all;
    } finally {
      clearTimeout(timer);
      this.#applying.delete(token);
    }
    return { holds, complete: holds || replies >= expected };
  }

  /** The record goes back to `new` (only from error or dead, atomically), then the message is published again. */
  async retry(message: TaskMessage): Promise<boolean> {
    const record = messageToRecord(message, Date.now());
    if (!(await this.#index('retry').requeue(record))) return false;
    await this.#parts.publish(message, record);
    return true;
  }

  /**
   * A delayed (`new` with a future start) or `retry` task: the copy id is announced first (every
   * worker, and global config for later ones), then a copy carrying it is published to the work
   * queue as the attempt the record is at. The delayed copy, without that id, is dropped unrun
   * when it comes due; a retry of the promoted copy keeps the id (headers are copied) and runs.
   */
  async promote(id: string): Promise<boolean> {
    if (!this.capabilities.has('promote')) throw this.#unsupported('promote');
    const record = await this.#parts.storage()?.get(id);
    if (record === undefined) return false;
    const now = Date.now();
    // A copy comes due at its start time or later: past it, a worker may be taking the delayed copy now.
    const waits = record.runAt === undefined ? record.status === TaskStatus.RETRY : record.runAt > now;
    const delayed = (record.status === TaskStatus.RETRY || record.status === TaskStatus.NEW) && waits;
    if (!delayed) return false;
    const copy = randomUUID();
    const gc = this.#parts.globalConfig();
    await gc?.set(PROMOTED_KEY + id, copy);
    await gc?.set(PROMOTED_AT_KEY, String(now));
    await this.#exchange.publish(this.#exchange.control, '', { k: 'promote', id, copy } satisfies ControlMessage);
    const { name, queue, args, priority, createdAt, meta } = record;
    // the worker raises the delivery limit to its task's own (worker.ts); this one lets the copy run
    const message: TaskMessage = { id, name, queue, args, priority, createdAt, maxDeliveries: record.attempts + 1, ...(meta !== undefined ? { meta } : {}) };
    await this.#parts.publishCopy(message, record, { [COPY_HEADER]: copy, [DELIVERIES_HEADER]: record.attempts });
    return true;
  }

  /** Deletes the record; a queued copy is revoked (dropped on receipt by any worker). */
  async remove(id: string): Promise<boolean> {
    const removed = await this.#index('remove').remove(id);
    if (removed === undefined) return false;
    if (!isFinal(removed.status)) {
      await this.#parts.globalConfig()?.set(REVOKED_AT_KEY, String(Date.now()));
      await this.#exchange.publish(this.#exchange.control, '', { k: 'cancel', id, reason: 'removed' } satisfies ControlMessage);
    }
    return true;
  }

  async clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
    return this.#index('clean').clean(status, olderThanMs, limit);
  }

  /**
   * The server queues first (the work queue and the delay queues this process declared), then
   * the queue's `new` and `retry` records are deleted and their ids revoked: a record is saved
   * before its message is published, so a message that escaped the server purge (published
   * meanwhile, in a delay queue another process declared, or held by a worker) has a record
   * listed here and is dropped on receipt. Returns how many records were deleted.
   */
  async purge(queue: string): Promise<number> {
    const index = this.#index('purge');
    const work = this.#exchange.topo.workQueue(queue);
    const delays = [...this.#exchange.topo.declaredQueues].filter((q) => q.startsWith(`${work}.delay.`));
    for (const name of [work, ...delays]) await this.#exchange.purgeQueue(name);
    const ids: string[] = [];
    for (const status of [TaskStatus.NEW, TaskStatus.RETRY] as const) {
      for (;;) {
        const page = await index.list({ status, queue, limit: PURGE_PAGE });
        let removed = 0;
        for (const r of page.records) {
          const gone = await index.remove(r.id);
          if (gone === undefined || isFinal(gone.status) || gone.status === TaskStatus.PROCESS) continue;
          ids.push(r.id);
          removed++;
        }
        // a page with nothing deletable (records that changed meanwhile) ends it: no endless loop
        if (removed === 0 || page.cursor === undefined) break;
      }
    }
    if (ids.length > 0) {
      await this.#parts.globalConfig()?.set(REVOKED_AT_KEY, String(Date.now()));
      for (const id of ids) await this.#exchange.publish(this.#exchange.control, '', { k: 'cancel', id, reason: 'removed' } satisfies ControlMessage);
      // a delayed copy the server purge took never comes to be dropped: its promote mark goes now
      for (const id of ids) await this.forgetPromoted(id);
    }
    return ids.length;
  }

  /**
   * Kept in global config for workers started later; sent to the running ones, and resolved once
   * every live worker of the app says its consumers follow it (or after APPLY_WAIT_MS), so a task
   * added after `pause()` resolves is not taken.
   */
  async setPaused(queue: string, paused: boolean): Promise<void> {
    await this.#parts.globalConfig()?.set(PAUSED_KEY + queue, paused ? '1' : '');
    await this.#confirmed((token) => ({ k: 'pause', queue, paused, token }));
  }

  async progress(message: TaskMessage, attempt: number, value: unknown): Promise<boolean> {
    if (this.running.get(message.id) !== attempt) return false;
    this.emit('progress', message, attempt, { progress: value });
    return true;
  }

  async subscribe(listener: (event: TaskEvent) => void): Promise<() => Promise<void>> {
    const one = (body: unknown): void => {
      if (body !== null && typeof body === 'object' && typeof (body as TaskEvent).id === 'string') listener(body as TaskEvent);
    };
    // A message holds one event, or the array of a run of events (ControlExchange.sendEvent).
    return this.#exchange.listen(this.#exchange.events, '#', (body) => (Array.isArray(body) ? body.forEach(one) : one(body)));
  }

  async onCancel(listener: (id: string, reason: string) => void): Promise<() => Promise<void>> {
    this.#cancelListeners.add(listener);
    await this.listen();
    return async () => void this.#cancelListeners.delete(listener);
  }

  async stop(): Promise<void> {
    const listening = this.#listening;
    this.#listening = undefined;
    if (listening !== undefined) await (await listening.catch(() => async () => undefined))();
  }

  // The kernel checks capabilities first; this answers a direct call the same way.
  #unsupported(capability: ControlCapability): QTasksError {
    return new QTasksError(ErrorCodes.UNSUPPORTED, `${capability} is not supported by plugin "rabbitmq" (app "${this.#ctx?.appName ?? '?'}"); it is offered by ${this.alternatives}`);
  }
}
