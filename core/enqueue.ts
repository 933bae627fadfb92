/**
 * The enqueue path of `addTask`: check the call, build the message, let `broker.beforePublish`
 * change it, store the `new` record (unless the broker keeps records itself) and publish.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from './app.js';
import type { Broker, DedupRequest, PublishReserveOptions, Storage } from './contracts.js';
import { ErrorCodes, QTasksError, messageOf, type ErrorCode } from './errors.js';
import { NotPlainJson, toPlainJson } from './json.js';
import { ADD_TASK_OPTION_KEYS, rejectUnknownKeys } from './options.js';
import { messageToRecord, type TaskMessage, type TaskRecord } from './record.js';
import type { RecordWrites } from './record-writes.js';
import { validate } from './schema.js';
import type { AddTaskOptions } from './task.js';

export interface EnqueueParts {
  readonly broker: Broker;
  readonly storage: Storage;
  /** The broker writes records itself (it is the app's storage). */
  readonly fused: boolean;
  /** Where the kernel writes records when not fused (grouped per turn: a bulk add's `new` records go together). */
  readonly writes: RecordWrites;
}

const NUMERIC_OPTIONS = ['priority', 'delay', 'timeout'] as const;

/**
 * A new task id, as a flat string. randomUUID() returns a rope (its pieces concatenated); the first
 * read of its characters (a workflow-step check, a hash) flattens it, and on a message the heap has
 * already promoted that copy costs the memory broker about 4 us per task (old-space allocation,
 * write barrier, GC). toLowerCase() (a no-op on the content: UUIDs are lower-case hex) returns the
 * flat string while it is young.
 */
function newTaskId(): string {
  return randomUUID().toLowerCase();
}

/**
 * Checks the call: options in range, arguments and meta plain JSON (brokers get nothing they could
 * fail to encode). Bulk add runs it on every item first.
 */
export function checkCall(name: string, args: readonly unknown[], options: AddTaskOptions): void {
  if (!Array.isArray(args)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `task "${name}": args must be an array, got ${typeof args}`);
  rejectUnknownKeys(options, ADD_TASK_OPTION_KEYS, `addTask of task "${name}"`);
  for (const key of NUMERIC_OPTIONS) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || (key !== 'priority' && v < 0))) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": ${key} must be a finite number${key === 'priority' ? '' : ' >= 0'}, got ${String(v)}`);
    }
  }
  checkUnique(name, options);
  // What the handler receives must equal what the caller passed, on every broker.
  plain(args, 'args', ErrorCodes.INVALID_ARGS, name, 'args must be JSON-serializable');
  const meta = options.meta;
  if (meta === undefined) return;
  if (!isPlainObject(meta)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": meta must be a plain object of JSON values, got ${describe(meta)}`);
  }
  plain(meta, 'meta', ErrorCodes.INVALID_OPTION, name, 'meta must be a plain object of JSON values');
}

const DEDUP_MODES = new Set(['simple', 'throttle', 'debounce']);

/** A caller-chosen id or dedup key: a short string without control characters (it is part of broker keys). */
function checkKey(name: string, what: string, value: unknown): void {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || /[\u0000-\u001f]/.test(value)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": ${what} must be a string of 1 to 200 characters without control characters, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value}`);
  }
}

function checkUnique(name: string, options: AddTaskOptions): void {
  if (options.id !== undefined) checkKey(name, 'id', options.id);
  const dedup = options.dedup;
  if (dedup === undefined) return;
  if (dedup === null || typeof dedup !== 'object') throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup must be { key, mode, ttlMs? }`);
  rejectUnknownKeys(dedup, { key: true, mode: true, ttlMs: true }, `dedup of task "${name}"`);
  checkKey(name, 'dedup.key', dedup.key);
  if (!DEDUP_MODES.has(dedup.mode)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup.mode must be 'simple', 'throttle' or 'debounce', got ${String(dedup.mode)}`);
  const ttl = dedup.ttlMs;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup.ttlMs must be a finite number >= 1, got ${String(ttl)}`);
  }
  if (dedup.mode === 'throttle' && ttl === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup mode 'throttle' needs ttlMs (the window)`);
  // The id waited for would not be the id of the task the call merges into.
  if (options.timeout !== undefined || options.onProgress !== undefined) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup cannot be combined with timeout or onProgress; wait with app.wait(record.id) on the record addTask returns`);
  }
}

function plain(value: unknown, root: string, code: ErrorCode, name: string, rule: string): void {
  try {
    toPlainJson(value);
  } catch (err) {
    const detail = err instanceof NotPlainJson ? err.describe(root) : `${root} threw: ${messageOf(err)}`;
    const cause = err instanceof NotPlainJson ? err.cause : err;
    throw new QTasksError(code, `task "${name}": ${detail}; ${rule}`, cause === undefined ? undefined : { cause });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const proto = Object.getPrototypeOf(value) as unknown;
    return proto === Object.prototype || proto === null;
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'a non-plain object' : `a ${typeof value}`;
}

/**
 * Publishes one call of task `name`; resolves with its record in status `new` once the broker has
 * it. `beforePublish` gets the final id just before the task can run anywhere.
 */
export async function enqueue(
  app: QueueTasks,
  parts: EnqueueParts,
  name: string,
  args: readonly unknown[],
  options: AddTaskOptions,
  beforePublish?: (id: string) => void,
  checked = false,
): Promise<TaskRecord> {
  const def = app.tasks.get(name);
  if (!checked) {
    checkCall(name, args, options);
    // Checked here so that nothing is sent; the input (JSON) travels, the worker transforms it.
    if (def?.options.args !== undefined) await validate(def.options.args, args, name, 'args', ErrorCodes.INVALID_ARGS);
  }
  const config = app.config;
  const now = Date.now();
  const id = options.id ?? newTaskId();
  const queue = options.queue ?? def?.options.queue ?? config.defaultQueue;
  const priority = options.priority ?? def?.options.priority ?? config.defaultPriority;
  const maxDeliveries = (def?.options.retry ?? 0) + 1 + config.extraDeliveries;
  // Two plain literals rather than a conditional spread (a slow object clone per call); no `meta` key without meta.
  let message: TaskMessage =
    options.meta === undefined
      ? { id, name, queue, args, priority, createdAt: now, maxDeliveries }
      : { id, name, queue, args, priority, createdAt: now, maxDeliveries, meta: options.meta };
  const delayMs = options.delay ?? def?.options.delay ?? 0;
  const hooks = app.hooks.broker;
  if (hooks.beforePublish.isUsed()) {
    // A tap may return anything: what reaches the broker is plain JSON all the same.
    message = await hooks.beforePublish.promise(message, { app, delayMs });
  }
  const unique = options.id !== undefined;
  const dedup = dedupRequest(name, options, delayMs);
  let record: TaskRecord;
  try {
    if (hooks.beforePublish.isUsed()) plain(message, 'message', ErrorCodes.INVALID_ARGS, name, 'broker.beforePublish must return a plain JSON message');
    record = messageToRecord(message, now, now + delayMs);
    beforePublish?.(message.id);
    if (!unique && dedup === undefined) {
      if (!parts.fused) await parts.writes.save(record, { ttlMs: config.resultTtlMs });
      // Two literals rather than a conditional spread (see above).
      const timeout = options.timeout;
      await parts.broker.publish(message, timeout === undefined ? { delayMs, record, awaitsResult: false } : { delayMs, record, awaitsResult: true, waitMs: timeout });
    } else {
      const existing = await publishUnique(app, parts, message, record, delayMs, options.timeout !== undefined, unique, dedup);
      if (existing !== undefined) return await existingRecord(parts.storage, existing, record);
    }
  } catch (err) {
    if (hooks.publishFailed.isUsed()) publishFailed(app, message, err);
    throw err;
  }
  if (hooks.afterPublish.isUsed()) hooks.afterPublish.call(message);
  return record;
}

/** `broker.publishFailed` is a notification: a tap that throws is logged, the caller gets the publish error. */
function publishFailed(app: QueueTasks, message: TaskMessage, err: unknown): void {
  try {
    app.hooks.broker.publishFailed.call(message, err instanceof Error ? err : new Error(messageOf(err)));
  } catch (tapErr) {
    app.logger('QueueTasks').error({ err: tapErr, taskId: message.id }, 'a broker.publishFailed tap failed');
  }
}

function dedupRequest(name: string, options: AddTaskOptions, delayMs: number): DedupRequest | undefined {
  const d = options.dedup;
  if (d === undefined) return undefined;
  if (d.mode === 'debounce' && !(delayMs > 0)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": dedup mode 'debounce' needs a delay (the quiet time after the last call)`);
  }
  return { key: d.key, mode: d.mode, ttlMs: d.ttlMs === undefined ? 0 : Math.ceil(d.ttlMs) };
}

/**
 * Enqueues a task with a caller-chosen id or a dedup key, atomically with the check: in the broker
 * when it keeps the records, else in storage before publishing (docs/decisions.md says what that
 * guarantees). Returns the id of the existing task when the call was deduplicated.
 */
async function publishUnique(
  app: QueueTasks,
  parts: EnqueueParts,
  message: TaskMessage,
  record: TaskRecord,
  delayMs: number,
  awaitsResult: boolean,
  unique: boolean,
  dedup: DedupRequest | undefined,
): Promise<string | undefined> {
  if (parts.fused) {
    const outcome = await parts.broker.publish(message, { delayMs, record, awaitsResult, unique, ...(dedup !== undefined ? { dedup } : {}) });
    return outcome === undefined ? undefined : outcome.existing;
  }
  const what = dedup !== undefined ? `dedup mode '${dedup.mode}'` : 'a caller-chosen id';
  if (dedup?.mode === 'debounce') {
    throw new QTasksError(ErrorCodes.UNSUPPORTED, `${what} changes a queued task: it needs a broker that keeps the records (memory or redis as both broker and storage); the ${parts.broker.name} broker cannot`);
  }
  const storage = parts.storage;
  const ttlMs = app.config.resultTtlMs;
  const dedupOption = dedup !== undefined ? { dedup } : {};
  if (canReservePublish(storage)) {
    // The publisher has leaseMs to publish and confirm, the time after which a silent worker's
    // delivery goes to another: past it, a caller of the same id takes the reservation over.
    const existing = await reservePublishing(storage, record, { ttlMs, publishMs: app.config.leaseMs, ...dedupOption });
    if (existing !== undefined) return existing;
    try {
      await parts.broker.publish(message, { delayMs, record, awaitsResult });
    } catch (err) {
      // The next caller of the id may take it over at once (a publish that landed anyway is then sent twice: at-least-once).
      await storage.confirmPublish(message.id, false).catch(() => undefined);
      throw err;
    }
    // The task is published: a failed confirm costs at most a second publish by a caller of the same id past the deadline.
    await storage.confirmPublish(message.id, true).catch((err: unknown) => app.logger('QueueTasks').warn({ err, taskId: message.id }, 'storage could not confirm a publish; the task is published'));
    return undefined;
  }
  if (storage.reserve === undefined) {
    throw new QTasksError(ErrorCodes.UNSUPPORTED, `${what} needs a storage that can reserve ids (redis or memory storage, or a broker that keeps records); storage "${storage.name}" cannot`);
  }
  const existing = await storage.reserve(record, { ttlMs, ...dedupOption });
  if (existing !== undefined) return existing;
  await parts.broker.publish(message, { delayMs, record, awaitsResult });
  return undefined;
}

type PublishingStorage = Storage & Required<Pick<Storage, 'reservePublish' | 'confirmPublish'>>;

/** The storage offers `reservePublish` and `confirmPublish` (both, or the kernel uses `reserve`). */
export function canReservePublish(storage: Storage): storage is PublishingStorage {
  return storage.reservePublish !== undefined && storage.confirmPublish !== undefined;
}

/** Pauses between asks while another caller's reservation is unconfirmed, ms (the last repeats). */
const PUBLISHING_POLL = [50, 100, 200, 400, 800, 1_000];

/**
 * `reservePublish` until it answers: the id of the task that holds the id (or key), or undefined
 * when this caller holds the reservation. A reservation whose publish is unconfirmed is waited
 * for, asking again (never later than the storage said its deadline passes): its publisher
 * confirms it (then it holds the id) or misses the deadline (then this caller takes it over).
 */
export async function reservePublishing(storage: PublishingStorage, record: TaskRecord, options: PublishReserveOptions): Promise<string | undefined> {
  for (let asked = 0; ; asked++) {
    const answer = await storage.reservePublish(record, options);
    if (answer.kind === 'reserved') return undefined;
    if (answer.kind === 'existing') return answer.id;
    const pause = Math.min(answer.retryMs, PUBLISHING_POLL[Math.min(asked, PUBLISHING_POLL.length - 1)]!);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/** The record of the task a call was merged into, flagged; if it expired meanwhile, this call's as it would have been. */
async function existingRecord(storage: Storage, id: string, fallback: TaskRecord): Promise<TaskRecord> {
  const found = await storage.get(id);
  return { ...(found ?? { ...fallback, id }), deduplicated: true };
}
