/**
 * The worker: takes deliveries from the broker, runs them through the executor and settles
 * them. Records are written before the broker is told (at-least-once: a task leaves the queue
 * only when its outcome is stored). A bad task never throws out of here.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from './app.js';
import type { Broker, Delivery, GlobalConfig, Storage } from './contracts.js';
import { ErrorCodes, QTasksError } from './errors.js';
import { ShutdownAbort, execute, type Execution, type Outcome } from './executor.js';
import type { LoggerLike } from './logger.js';
import { TaskStatus, errorInfo, recordOf, type TaskRecord } from './record.js';

export interface WorkerParts {
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig;
  /** True when the broker writes records itself (it is the app's storage). */
  readonly fused: boolean;
}

export class Worker {
  readonly id = randomUUID();
  readonly #app: QueueTasks;
  readonly #parts: WorkerParts;
  readonly #log: LoggerLike;
  readonly #running = new Map<Delivery, Execution | undefined>();
  #stopping = false;
  #idle: (() => void) | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(app: QueueTasks, parts: WorkerParts) {
    this.#app = app;
    this.#parts = parts;
    this.#log = app.logger('Worker');
  }

  get inFlight(): number {
    return this.#running.size;
  }

  async start(queues: readonly string[]): Promise<void> {
    const cfg = this.#app.config;
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), cfg.heartbeatMs);
    this.#heartbeat.unref();
    await this.#parts.broker.consume({ queues, concurrency: cfg.concurrency, onDelivery: (d) => this.#onDelivery(d) });
    this.#log.info({ queues, concurrency: cfg.concurrency, worker: this.id }, 'worker consuming');
  }

  /**
   * Stops taking deliveries and waits for running tasks up to `graceMs`. Tasks still running
   * then are aborted and left unsettled: the broker gives them to another worker.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    await this.#parts.broker.pause();
    if (this.#running.size > 0) {
      const drained = new Promise<void>((resolve) => (this.#idle = resolve));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
      const result = await Promise.race([drained, late]);
      if (timer !== undefined) clearTimeout(timer);
      if (result === 'late') {
        this.#log.warn({ abandoned: this.#running.size }, 'stop grace period over: abandoning running tasks to redelivery');
        for (const execution of this.#running.values()) execution?.abort(new ShutdownAbort());
        this.#running.clear();
      }
    }
  }

  async #beat(): Promise<void> {
    try {
      await this.#parts.globalConfig.heartbeat(this.id, this.#app.config.heartbeatMs * 3);
    } catch (err) {
      this.#log.warn({ err }, 'heartbeat failed');
    }
  }

  #onDelivery(delivery: Delivery): void {
    this.#running.set(delivery, undefined);
    this.#handle(delivery)
      .catch((err: unknown) => this.#log.error({ err, taskId: delivery.message.id }, 'settling a task failed; it returns after its lease'))
      .finally(() => {
        this.#running.delete(delivery);
        if (this.#running.size === 0 && this.#idle !== undefined) this.#idle();
      });
  }

  async #handle(delivery: Delivery): Promise<void> {
    const app = this.#app;
    const m = delivery.message;
    const startedAt = Date.now();
    const base = recordOf(m, TaskStatus.PROCESS, delivery.attempt, startedAt, { startedAt });
    const rejected = app.hooks.broker.receive.isUsed() ? app.hooks.broker.receive.call(delivery) : undefined;
    if (rejected !== undefined) return this.#deadLetter(delivery, base, rejected);
    const def = app.tasks.get(m.name);
    // The producer may not know the task's retry count; the worker's definition can raise the limit.
    const limit = Math.max(m.maxDeliveries, def === undefined ? 0 : (def.options.retry ?? 0) + 1 + app.config.extraDeliveries);
    if (delivery.attempt > limit) {
      return this.#deadLetter(delivery, base, `delivered ${delivery.attempt} times without an outcome (limit ${limit})`);
    }
    if (def === undefined) {
      const err = new QTasksError(ErrorCodes.UNKNOWN_TASK, `no task named ${JSON.stringify(m.name)} is registered on app "${app.name}"`);
      const record = recordOf(m, TaskStatus.ERROR, delivery.attempt, startedAt, { startedAt, finishedAt: startedAt, error: errorInfo(err) });
      return this.#settle(delivery, record, app.config.resultTtlMs);
    }
    if (!this.#parts.fused) {
      const current = await this.#parts.storage.save(this.#beforeSave(base), { ttlMs: app.config.resultTtlMs });
      if (!current) {
        // A newer delivery of this task exists: this one is stale. Let the broker drop it.
        await this.#parts.broker.ack(delivery, base, { ttlMs: app.config.resultTtlMs });
        return;
      }
    }
    const execution = execute(app, def, delivery);
    this.#running.set(delivery, execution);
    const outcome = await execution.done;
    if (!this.#running.has(delivery)) return; // abandoned at stop: leave it unsettled
    const ttl = def.options.resultTtlMs ?? app.config.resultTtlMs;
    await this.#settle(delivery, this.#record(delivery, startedAt, outcome), ttl, outcome);
  }

  #record(delivery: Delivery, startedAt: number, outcome: Outcome): TaskRecord {
    const now = Date.now();
    const m = delivery.message;
    const attempt = delivery.attempt;
    switch (outcome.kind) {
      case 'success':
        return recordOf(m, TaskStatus.SUCCESS, attempt, now, { startedAt, finishedAt: now, returning: outcome.returning });
      case 'cancel':
        return recordOf(m, TaskStatus.CANCEL, attempt, now, { startedAt, finishedAt: now, reason: outcome.reason });
      case 'retry':
        return recordOf(m, TaskStatus.RETRY, attempt, now, { startedAt, runAt: now + outcome.delayMs, error: errorInfo(outcome.error) });
      case 'error':
        return recordOf(m, TaskStatus.ERROR, attempt, now, { startedAt, finishedAt: now, error: errorInfo(outcome.error) });
    }
  }

  #beforeSave(record: TaskRecord): TaskRecord {
    const hook = this.#app.hooks.storage.beforeSave;
    return hook.isUsed() ? hook.call(record) : record;
  }

  async #settle(delivery: Delivery, raw: TaskRecord, ttlMs: number, outcome?: Outcome): Promise<void> {
    let record = this.#beforeSave(raw);
    if (record.status === TaskStatus.SUCCESS && !isJson(record.returning)) {
      const now = Date.now();
      record = {
        ...record,
        status: TaskStatus.ERROR,
        returning: undefined,
        error: { name: 'QTasksError', code: ErrorCodes.INVALID_ARGS, message: `task "${record.name}" returned a value that is not JSON-serializable` },
        finishedAt: now,
      };
    }
    const { broker, storage, fused } = this.#parts;
    if (!fused) {
      const current = await storage.save(record, { ttlMs });
      if (!current) {
        await broker.ack(delivery, record, { ttlMs });
        return;
      }
    }
    const owned =
      record.status === TaskStatus.RETRY && outcome?.kind === 'retry'
        ? await broker.retry(delivery, record, outcome.delayMs)
        : await broker.ack(delivery, record, { ttlMs });
    if (!owned) {
      this.#log.warn({ taskId: record.id, attempt: delivery.attempt }, 'lease lost before settling: a newer delivery owns the task');
      return;
    }
    if (record.status === TaskStatus.ERROR) this.#log.warn({ taskId: record.id, task: record.name, err: record.error?.message }, 'task failed');
    if (this.#app.hooks.task.settled.isUsed()) this.#app.hooks.task.settled.call(record);
  }

  async #deadLetter(delivery: Delivery, base: TaskRecord, reason: string): Promise<void> {
    const now = Date.now();
    const record = this.#beforeSave({ ...base, status: TaskStatus.DEAD, updatedAt: now, finishedAt: now, reason });
    this.#log.error({ taskId: record.id, task: record.name, reason }, 'task dead-lettered');
    if (!this.#parts.fused) await this.#parts.storage.save(record, { ttlMs: this.#app.config.resultTtlMs });
    await this.#parts.broker.deadLetter(delivery, record, { ttlMs: this.#app.config.resultTtlMs });
    if (this.#app.hooks.task.settled.isUsed()) this.#app.hooks.task.settled.call(record);
  }
}

function isJson(value: unknown): boolean {
  const type = typeof value;
  if (type === 'undefined' || type === 'string' || type === 'boolean' || value === null) return true;
  if (type === 'number') return Number.isFinite(value);
  try {
    JSON.stringify(value);
    return true;
  } catch {
    return false;
  }
}
