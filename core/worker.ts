/**
 * The worker: takes deliveries from the broker, runs them through the executor and settles
 * them. Records are written before the broker is told (at-least-once: a task leaves the queue
 * only when its outcome is stored). A bad task never throws out of here.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from './app.js';
import type { Broker, Control, Delivery, GlobalConfig, RateLimitSlot, Storage } from './contracts.js';
import { ErrorCodes, QTasksError, RateLimitError, TaskCancelError, messageOf, toError } from './errors.js';
import { ShutdownAbort, execute, type Execution, type Outcome } from './executor.js';
import type { LoggerLike } from './logger.js';
import { NotPlainJson, jsonProblem, toPlainJson } from './json.js';
import { setLongTimeout, type LongTimer } from './timers.js';
import { TaskStatus, errorInfo, recordOf, type TaskErrorInfo, type TaskRecord } from './record.js';
import type { RecordWrites } from './record-writes.js';
import { Admission, suspicionVerdict } from './suspicion.js';
import { WorkerRegistry } from './worker-registry.js';
import { FlowGate, claimedRates, limitsOf, requireLimiter, splitQueueLimits, type Held } from './flow/gate.js';
import { queueOptionsOf, type QueueOptions } from './flow/queues.js';
import { advance } from './workflow/advance.js';
import { join } from './workflow/join.js';

export interface WorkerParts {
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig;
  /** True when the broker writes records itself (it is the app's storage). */
  readonly fused: boolean;
  /** The kernel's record writes (unfused), grouped per turn where the storage can take them together. */
  readonly writes: RecordWrites;
}

export class Worker {
  readonly id = randomUUID();
  readonly #app: QueueTasks;
  readonly #parts: WorkerParts;
  readonly #log: LoggerLike;
  readonly #running = new Map<Delivery, Run>();
  /** App-wide rate limits and global concurrency (core/flow); only tasks that declare them pass through it. */
  #gate: FlowGate | undefined;
  /** The part of the queues' limits (`app.queue`) the gate enforces: what the broker's claim does not. */
  #gateQueues: ReadonlyMap<string, QueueOptions> | undefined;
  /** The rate slots the broker's claim takes per queue: a delivery held at the gate takes one again. */
  #claimedRates: ReadonlyMap<string, RateLimitSlot> | undefined;
  /** Cancel requests for tasks not (yet) running here, kept briefly: a claim may arrive after its cancel. */
  readonly #cancels = new Map<string, { reason: string; until: number }>();
  #stopCancels: (() => Promise<void>) | undefined;
  readonly #admission = new Admission();
  #registry: WorkerRegistry | undefined;
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

  async start(queues: readonly string[], concurrency = this.#app.config.concurrency): Promise<void> {
    const cfg = this.#app.config;
    const limiter = this.#parts.globalConfig.limiter;
    // Memory counters are app-wide only when the queue is in this process too.
    const shared = limiter !== undefined && (this.#parts.globalConfig.name !== 'memory' || this.#parts.broker.name === 'memory');
    const split = splitQueueLimits(queueOptionsOf(this.#app), this.#parts.broker.claimLimits === true, queues);
    this.#gateQueues = split.gate;
    this.#claimedRates = claimedRates(split.claim);
    requireLimiter(this.#app.tasks.values(), shared ? limiter : undefined, this.#parts.globalConfig.name, split.gate);
    if (shared) this.#gate = new FlowGate(limiter, cfg.leaseMs, this.#log);
    const self = { id: this.id, app: this.#app.name, queues: [...queues], concurrency, tasks: [...this.#app.tasks.keys()].sort(), running: () => this.#running.size };
    const registry = (this.#registry = new WorkerRegistry(this.#parts.globalConfig, self, this.#log, cfg.heartbeatMs));
    await registry.beat(cfg.heartbeatMs * 3);
    await registry.warnConflicts();
    this.#heartbeat = setInterval(() => void registry.beat(cfg.heartbeatMs * 3), cfg.heartbeatMs);
    this.#heartbeat.unref();
    const control = this.#parts.broker.control;
    if (control?.capabilities.has('cancel') === true) this.#stopCancels = await control.onCancel((id, reason) => this.#cancel(id, reason));
    await this.#parts.broker.consume({ queues, concurrency, onDelivery: (d) => this.#onDelivery(d), ...(split.claim !== undefined ? { limits: split.claim } : {}) });
    this.#log.debug({ queues, concurrency, worker: this.id }, 'worker consuming');
  }

  /**
   * Stops taking deliveries and waits for running tasks up to `graceMs` (any length; Infinity
   * waits for them however long they take). Tasks still running then are aborted and left
   * unsettled: the broker gives them to another worker.
   */
  async stop(graceMs: number): Promise<void> {
    try {
      await this.#stop(graceMs);
    } finally {
      // Drained or abandoned: this worker runs nothing more, so nothing may be left to it.
      await this.#registry?.leave();
    }
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    await this.#parts.broker.pause();
    await this.#stopCancels?.().catch((err: unknown) => this.#log.warn({ err }, 'could not stop listening for cancels'));
    if (this.#running.size > 0) {
      if ((await this.#drained(graceMs)) === 'drained') return;
      // The deadline: a task whose outcome exists is settled; only tasks still running (or not
      // yet started) are abandoned, so no finished task's outcome is dropped and run again.
      let abandoned = 0;
      for (const [delivery, run] of this.#running) {
        if (run.ending || run.execution?.finished === true) continue;
        run.abandoned = true;
        run.execution?.abort(new ShutdownAbort());
        this.#running.delete(delivery);
        abandoned++;
      }
      // Deliveries waiting for their turn to run (suspicion.ts) were abandoned with the rest.
      this.#admission.abandon();
      if (abandoned > 0) this.#log.warn({ abandoned }, 'stop grace period over: abandoning running tasks to redelivery');
      if (this.#running.size > 0 && (await this.#drained(this.#app.config.stepTimeoutMs)) === 'late') {
        this.#log.warn({ settling: this.#running.size }, 'settlements still in flight after the stop step limit; those tasks return when their lease expires');
      }
    }
  }

  /** Resolves when nothing is running here any more, or at `ms` (any length; Infinity: no limit). */
  async #drained(ms: number): Promise<'drained' | 'late'> {
    if (this.#running.size === 0) return 'drained';
    const drained = new Promise<'drained'>((resolve) => (this.#idle = () => resolve('drained')));
    let timer: LongTimer | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setLongTimeout(() => resolve('late'), ms)));
    try {
      return await Promise.race([drained, late]);
    } finally {
      timer?.cancel();
      this.#idle = undefined;
    }
  }

  #onDelivery(delivery: Delivery): void {
    const run = new Run();
    this.#running.set(delivery, run);
    void this.#handle(delivery, run);
  }

  /**
   * A cancel request (from any process): a task running here is settled `cancel` now, its signal
   * aborted; whatever its handler does later is ignored. One that is not running here yet is
   * remembered for a few seconds, in case its delivery is on its way.
   */
  #cancel(id: string, reason: string): void {
    for (const [delivery, run] of this.#running) {
      if (delivery.message.id !== id) continue;
      if (run.ending || run.settled) break;
      if (run.execution === undefined) {
        // Not running yet (being prepared, or held for a flow slot): #handle settles it before the handler.
        run.cancelled = reason;
        break;
      }
      run.ending = true;
      run.execution.abort(new TaskCancelError(reason));
      const now = Date.now();
      const record = recordOf(delivery.message, TaskStatus.CANCEL, delivery.attempt, now, { startedAt: run.startedAt, finishedAt: now, reason, progress: run.execution.lastProgress, logs: run.execution.logs });
      this.#settle(delivery, run, record, run.ttlMs).catch((err: unknown) => this.#giveBack(delivery, run, err));
      return;
    }
    const now = Date.now();
    for (const [key, entry] of this.#cancels) {
      if (entry.until > now) break;
      this.#cancels.delete(key);
    }
    this.#cancels.set(id, { reason, until: now + 5_000 });
  }

  /** The reason a cancel for this delivery was heard (on it, or before it arrived), or undefined. */
  #cancelled(id: string, run: Run): string | undefined {
    const early = this.#cancels.size > 0 ? this.#cancels.get(id) : undefined;
    if (early !== undefined) this.#cancels.delete(id);
    return run.cancelled ?? early?.reason;
  }

  /**
   * A storage or broker call failed before the delivery was settled: hand the task back to the
   * broker for a later attempt rather than holding its slot (or, failing that, leave it to the
   * lease). A bad task or a failing plugin never stops the worker.
   */
  async #giveBack(delivery: Delivery, run: Run, err: unknown): Promise<void> {
    const m = delivery.message;
    this.#log.error({ err, taskId: m.id, task: m.name }, 'could not settle the task; returning it to the queue');
    if (run.settled) return;
    run.settled = true;
    const now = Date.now();
    const delayMs = this.#app.config.retryDelayMs;
    const record = recordOf(m, TaskStatus.RETRY, delivery.attempt, now, { runAt: now + delayMs, error: errorInfo(toError(err)) });
    try {
      await this.#parts.broker.retry(delivery, record, delayMs);
    } catch (again) {
      this.#log.error({ err: again, taskId: m.id }, 'the broker refused the task back too; it returns when its lease expires');
    }
  }

  /**
   * One delivery, start to end. One async frame for the whole of it (no inner call awaited per
   * task): a failure anywhere before the delivery was settled hands it back (#giveBack).
   */
  async #handle(delivery: Delivery, run: Run): Promise<void> {
    try {
      const app = this.#app;
      const m = delivery.message;
      const startedAt = Date.now();
      const rejected = this.#receive(delivery);
      if (rejected !== undefined) return await this.#deadLetter(delivery, run, startedAt, rejected, ErrorCodes.MALFORMED_MESSAGE);
      const def = app.tasks.get(m.name);
      const ttlMs = def?.options.resultTtlMs ?? app.config.resultTtlMs;
      run.startedAt = startedAt;
      run.ttlMs = ttlMs;
      // The producer may not know the task's retry count; the worker's definition can raise the limit.
      const limit = Math.max(m.maxDeliveries, def === undefined ? 0 : (def.options.retry ?? 0) + 1 + app.config.extraDeliveries);
      const suspect = (delivery.lost ?? 0) > 0;
      // Innocent losses are not charged (suspicion.ts); without losses this is the plain limit check.
      const reason = suspect || delivery.attempt > limit ? await suspicionVerdict(delivery, limit, this.#parts.storage, this.#log) : undefined;
      if (reason !== undefined) return await this.#deadLetter(delivery, run, startedAt, reason, ErrorCodes.DELIVERY_LIMIT, ttlMs);
      if (def === undefined) {
        if (await this.#handBack(delivery, run)) return;
        const err = new QTasksError(ErrorCodes.UNKNOWN_TASK, `no task named ${JSON.stringify(m.name)} is registered on app "${app.name}", and no live worker of the app serves it on queue "${m.queue}"`);
        const record = recordOf(m, TaskStatus.ERROR, delivery.attempt, startedAt, { startedAt, finishedAt: startedAt, error: errorInfo(err) });
        return await this.#settle(delivery, run, record, ttlMs);
      }
      const entered = this.#admission.enter(suspect);
      run.admitted = suspect ? 'alone' : 'shared';
      if (entered !== true && (!(await entered) || run.abandoned)) {
        run.admitted = undefined; // abandoned at stop before it could start
        return;
      }
      if (suspect) {
        // Runs alone now: mark the record, so that if this attempt is lost too, the next delivery knows why.
        const now = Date.now();
        const marked = { ...recordOf(m, TaskStatus.PROCESS, delivery.attempt, now, { startedAt: now }), alone: { attempt: delivery.attempt, lost: delivery.lost ?? 0 } };
        this.#log.warn({ taskId: m.id, task: m.name, attempt: delivery.attempt, lost: delivery.lost }, 'task redelivered after its worker was lost: running it alone');
        if (!(await this.#parts.writes.save(marked, { ttlMs }))) {
          // A newer delivery of this task exists: this one is stale. Let the broker drop it.
          await this.#parts.broker.ack(delivery, marked, { ttlMs });
          run.settled = true;
          return;
        }
      } else if (!this.#parts.fused) {
        // A broker that keeps records wrote `process` at delivery; otherwise the kernel does, fenced.
        const base = recordOf(m, TaskStatus.PROCESS, delivery.attempt, startedAt, { startedAt });
        const processing = this.#beforeSave(base);
        if (processing.status !== TaskStatus.PROCESS) return await this.#settle(delivery, run, processing, ttlMs);
        const current = await this.#parts.writes.save(processing, { ttlMs });
        if (!current) {
          // A newer delivery of this task exists: this one is stale. Let the broker drop it.
          await this.#parts.broker.ack(delivery, base, { ttlMs });
          run.settled = true;
          return;
        }
      }
      const limits = this.#gate === undefined ? undefined : limitsOf(def, m, this.#gateQueues);
      if (limits !== undefined && !run.abandoned && this.#cancelled(m.id, run) === undefined) {
        // Held here, lease kept, until the app-wide slots are free (right before the handler, so a
        // grant and the start it counts are close); abandoned at stop, it stays unsettled; a cancel
        // heard meanwhile ends the wait (settled below).
        run.held = await this.#gate!.take(limits, () => run.abandoned || run.cancelled !== undefined, this.#claimedRates?.get(m.queue));
      }
      // Checked after the wait for slots too, and nothing awaits from here to the handler's start.
      const cancelled = this.#cancelled(m.id, run);
      if (cancelled !== undefined && !run.abandoned) {
        run.ending = true;
        const record = recordOf(m, TaskStatus.CANCEL, delivery.attempt, startedAt, { startedAt, finishedAt: startedAt, reason: cancelled });
        return await this.#settle(delivery, run, record, ttlMs);
      }
      if (run.abandoned) return; // the worker stopped while this delivery was being prepared
      if (limits !== undefined && run.held === undefined) return;
      const execution = (run.execution = execute(app, def, delivery, this.#report));
      const outcome = await execution.done;
      if (run.abandoned) return; // abandoned at stop: leave it unsettled
      if (run.ending) return; // cancelled while running: already settled
      run.ending = true;
      const broker = this.#parts.broker;
      if (outcome.kind !== 'success' && outcome.kind !== 'cancel' && outcome.error instanceof RateLimitError && (broker.postpone ?? broker.release) !== undefined) {
        // Not the task's failure: back to the queue for later, this attempt not spent.
        await (broker.postpone !== undefined ? broker.postpone(delivery, outcome.error.retryAfterMs) : broker.release!(delivery, outcome.error.retryAfterMs));
        run.settled = true;
        return;
      }
      await this.#settle(delivery, run, this.#record(delivery, startedAt, outcome, execution.lastProgress, execution.logs), ttlMs, outcome);
    } catch (err) {
      await this.#giveBack(delivery, run, err);
    } finally {
      if (run.admitted !== undefined) this.#admission.leave(run.admitted === 'alone');
      if (run.held !== undefined) this.#gate?.release(run.held);
      this.#running.delete(delivery);
      if (this.#running.size === 0 && this.#idle !== undefined) this.#idle();
    }
  }

  /**
   * A task this worker does not know: if a live worker of the app serves it on its queue (a
   * rolling deploy, or two deployments sharing an app name), give it back for that worker,
   * spending no attempt. The first time at once; each time it comes back here, with a longer
   * delay (registry.handbackDelay), so a worker never spins on a task while the one that knows
   * it is busy. Brokers hand a released task to another consumer first where they can.
   */
  async #handBack(delivery: Delivery, run: Run): Promise<boolean> {
    const m = delivery.message;
    const registry = this.#registry;
    const broker = this.#parts.broker;
    if (broker.release === undefined || registry === undefined || !(await registry.knownElsewhere(m.name, m.queue))) return false;
    const delayMs = registry.handbackDelay(m.id);
    this.#log.debug({ taskId: m.id, task: m.name, delayMs }, 'task unknown here but served by another live worker: handing it back');
    await broker.release(delivery, delayMs);
    run.settled = true;
    return true;
  }

  /** Stores and publishes a task's progress values through the control plane, fenced on the delivery. */
  readonly #report = (delivery: Delivery, value: unknown): void => {
    const control: Control | undefined = this.#parts.broker.control;
    if (control === undefined || !control.capabilities.has('progress')) return;
    const { id, name } = delivery.message;
    const problem = jsonProblem(value);
    if (problem !== undefined) {
      this.#log.warn({ taskId: id, task: name }, `progress value${problem}; not stored (it must be plain JSON)`);
      return;
    }
    const failed = (err: unknown): void => this.#log.warn({ err, taskId: id }, 'could not store progress');
    control.progress(delivery.message, delivery.attempt, value).catch(failed);
    if (this.#parts.fused) return;
    // Records live in another plugin: store the value there, fenced like every record write. It
    // is sent before any outcome of this delivery, so it lands before it.
    const run = this.#running.get(delivery);
    if (run === undefined || run.ending) return;
    const record = recordOf(delivery.message, TaskStatus.PROCESS, delivery.attempt, Date.now(), { startedAt: run.startedAt, progress: value });
    this.#parts.writes.save(record, { ttlMs: run.ttlMs }).catch(failed);
  };

  #receive(delivery: Delivery): string | undefined {
    const hook = this.#app.hooks.broker.receive;
    if (!hook.isUsed()) return undefined;
    try {
      return hook.call(delivery);
    } catch (err) {
      return `rejected on receipt: ${toError(err).message}`;
    }
  }

  #record(delivery: Delivery, startedAt: number, outcome: Outcome, progress: unknown, logs?: readonly string[]): TaskRecord {
    if (logs !== undefined) return { ...this.#record(delivery, startedAt, outcome, progress), logs: [...logs] };
    const now = Date.now();
    const m = delivery.message;
    const attempt = delivery.attempt;
    // The last progress value goes on the record only if it is plain JSON (#report logged it otherwise).
    if (progress !== undefined && jsonProblem(progress) === undefined) return { ...this.#record(delivery, startedAt, outcome, undefined), progress };
    switch (outcome.kind) {
      case 'success': {
        // No result (undefined) is fine; anything else is checked here, once: a value a broker
        // could not encode as it is (a toJSON, a BigInt, a throwing getter) is this task's error.
        const returning = outcome.returning;
        try {
          if (returning !== undefined) toPlainJson(returning);
        } catch (err) {
          const error = notJson(ErrorCodes.INVALID_RESULT, `task "${m.name}" returned a value that is not plain JSON`, 'result', err);
          return recordOf(m, TaskStatus.ERROR, attempt, now, { startedAt, finishedAt: now, error });
        }
        return recordOf(m, TaskStatus.SUCCESS, attempt, now, { startedAt, finishedAt: now, returning });
      }
      case 'cancel':
        return recordOf(m, TaskStatus.CANCEL, attempt, now, { startedAt, finishedAt: now, reason: typeof outcome.reason === 'string' ? outcome.reason : messageOf(outcome.reason) });
      case 'retry':
        return recordOf(m, TaskStatus.RETRY, attempt, now, { startedAt, runAt: now + outcome.delayMs, error: errorInfo(outcome.error) });
      case 'error':
        return recordOf(m, TaskStatus.ERROR, attempt, now, { startedAt, finishedAt: now, error: errorInfo(outcome.error) });
    }
  }

  /**
   * Applies `storage.beforeSave`. A tap that throws must not lose the task or loop it: the task
   * ends in error carrying the hook's error (the plugin's bug shows on the task, not in a void).
   */
  #beforeSave(record: TaskRecord): TaskRecord {
    const hook = this.#app.hooks.storage.beforeSave;
    if (!hook.isUsed()) return record;
    try {
      return hook.call(record);
    } catch (err) {
      const now = Date.now();
      return { ...record, status: TaskStatus.ERROR, updatedAt: now, finishedAt: now, runAt: undefined, returning: undefined, error: errorInfo(toError(err)) };
    }
  }

  /**
   * A `storage.beforeSave` tap may return anything: its record is serialised here, and one that is
   * not plain JSON is replaced by an error record (the kernel builds only plain ones itself).
   */
  #storable(delivery: Delivery, record: TaskRecord, dead = false): TaskRecord {
    if (!this.#app.hooks.storage.beforeSave.isUsed()) return record;
    try {
      return toPlainJson(record, { undefinedFields: true });
    } catch (err) {
      const now = Date.now();
      const error = notJson(ErrorCodes.HOOK_FAILED, 'storage.beforeSave returned a record that is not plain JSON', 'record', err);
      const status = dead ? TaskStatus.DEAD : TaskStatus.ERROR;
      return recordOf(delivery.message, status, delivery.attempt, now, { finishedAt: now, error, ...(dead ? { reason: error.message } : {}) });
    }
  }

  /**
   * Stores the outcome, then tells the broker. The delivery counts as settled only once the broker
   * call returned: if it throws, #giveBack still hands the delivery back (a broker that did settle
   * it answers false), so no path leaves a delivery held.
   */
  async #settle(delivery: Delivery, run: Run, raw: TaskRecord, ttlMs: number, outcome?: Outcome): Promise<void> {
    run.ending = true; // an outcome exists: a stopping worker waits for it instead of abandoning it
    const record = this.#storable(delivery, this.#beforeSave(raw));
    const { broker, writes, fused } = this.#parts;
    // A workflow step moves its workflow on before it is settled (workflow/advance.ts).
    if (delivery.message.meta !== undefined) await advance(this.#app, this.#parts, delivery.message, record, this.#log);
    if (!fused) {
      const current = await writes.save(record, { ttlMs });
      if (!current) {
        await broker.ack(delivery, record, { ttlMs });
        run.settled = true;
        return;
      }
    }
    // A group member joins its siblings once its outcome is stored, before it is acked (workflow/join.ts).
    if (delivery.message.meta !== undefined) await join(this.#app, this.#parts, delivery.message, record, this.#log);
    const owned =
      record.status === TaskStatus.RETRY && outcome?.kind === 'retry'
        ? await broker.retry(delivery, record, outcome.delayMs)
        : await broker.ack(delivery, record, { ttlMs });
    run.settled = true;
    if (!owned) {
      this.#log.warn({ taskId: record.id, attempt: delivery.attempt }, 'lease lost before settling: a newer delivery owns the task');
      return;
    }
    if (record.status === TaskStatus.ERROR) this.#log.warn({ taskId: record.id, task: record.name, err: record.error?.message }, 'task failed');
    this.#notify(record);
  }

  async #deadLetter(delivery: Delivery, run: Run, startedAt: number, reason: string, code: string, ttlMs = this.#app.config.resultTtlMs): Promise<void> {
    run.ending = true;
    const now = Date.now();
    const error = { name: 'QTasksError', code, message: reason };
    const record = this.#storable(delivery, this.#beforeSave(recordOf(delivery.message, TaskStatus.DEAD, delivery.attempt, now, { startedAt, finishedAt: now, reason, error })), true);
    this.#log.error({ taskId: record.id, task: record.name, reason }, 'task dead-lettered');
    if (delivery.message.meta !== undefined) await advance(this.#app, this.#parts, delivery.message, record, this.#log);
    if (!this.#parts.fused) await this.#parts.writes.save(record, { ttlMs });
    if (delivery.message.meta !== undefined) await join(this.#app, this.#parts, delivery.message, record, this.#log);
    await this.#parts.broker.deadLetter(delivery, record, { ttlMs });
    run.settled = true;
    this.#notify(record);
  }

  /** `task.settled` is a notification: a failing tap is logged, the task is already settled. */
  #notify(record: TaskRecord): void {
    const hook = this.#app.hooks.task.settled;
    if (!hook.isUsed()) return;
    try {
      hook.call(record);
    } catch (err) {
      this.#log.error({ err, taskId: record.id }, 'a task.settled tap failed');
    }
  }
}

/** A delivery this worker holds, and how far it got (one object per delivery). */
class Run {
  /** Set when the handler starts. */
  execution: Execution | undefined = undefined;
  startedAt = 0;
  ttlMs = 0;
  /** Whether the broker has been told the delivery's fate (after that, never tell it again). */
  settled = false;
  /** An outcome was chosen (the handler's, or a cancel): the other one is dropped. */
  ending = false;
  /** Given up at the stop deadline before it had an outcome: left unsettled for redelivery. */
  abandoned = false;
  /** How the delivery was admitted to run (suspicion.ts), so it leaves the gate the same way. */
  admitted: 'alone' | 'shared' | undefined = undefined;
  /** The app-wide slots it took (core/flow/gate.ts), given back when it ends. */
  held: Held | undefined = undefined;
  /** A cancel heard before its handler started (the reason): settled before the handler runs. */
  cancelled: string | undefined = undefined;
}

/** The error a record carries when a value could not be serialised: what, where, and why. */
function notJson(code: string, what: string, root: string, err: unknown): TaskErrorInfo {
  const detail = err instanceof NotPlainJson ? err.describe(root) : `${root} threw: ${messageOf(err)}`;
  return { name: 'QTasksError', code, message: `${what}: ${detail}` };
}
