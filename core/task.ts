/**
 * Task definitions, their options, the typed handle `app.task` returns, and `sharedTask`.
 */
import type { QueueTasks } from './app.js';
import { TASK_OPTION_KEYS, rejectUnknownKeys } from './options.js';
import { ErrorCodes, QTasksError } from './errors.js';
import type { BulkAddOptions } from './bulk.js';
import type { Dependency } from './di/container.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { JsonChecked } from './json-types.js';
import { checkSchemaOptions, type ArgsSchema, type ResultSchema, type SchemaInput, type SchemaOutput } from './schema.js';
import type { LoggerLike } from './logger.js';
import type { TaskRecord } from './record.js';
import { appMain, requireAppMain, sharedTaskDefinitions } from './state.js';
import { TaskCall } from './workflow/call.js';
import type { ChildResult } from './workflow/link.js';

/** A class of errors; `retryOn` matches subclasses too. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs before the handler; may throw to fail the attempt. */
export type MiddlewareBefore = (ctx: TaskContext) => void | Promise<void>;
/** Runs after the handler succeeded; may return a replacement result (undefined keeps it). */
export type MiddlewareAfter = (ctx: TaskContext, result: unknown) => unknown;

/** What a running task knows about itself. With `echo: true` the handler receives it first. */
export interface TaskContext {
  readonly app: QueueTasks;
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly priority: number;
  /** 1 on the first delivery; crash redeliveries and retries increase it. */
  readonly attempt: number;
  /** Aborted at the task's maxTime, or when the worker stops past its grace period. */
  readonly signal: AbortSignal;
  /** Bound to this task: `{ taskId, task, attempt }`. */
  readonly logger: LoggerLike;
  /** Ends the task in status `cancel` with `reason`. */
  cancel(reason?: string): never;
  /** Reports a progress value (fires `task.progress`). */
  progress(value: unknown): void;
  /**
   * Adds a line to the task's log, stored with its record (`app.get(id).logs`): the parts are
   * joined with spaces (non-strings as JSON). The attempt keeps its last `maxLogLines` lines.
   */
  log(...parts: unknown[]): void;
  /**
   * The value of a dependency declared with `app.dependency` (app and worker scopes: the shared
   * one; task scope: this attempt's own, disposed after it). A throwing factory rejects here.
   */
  use<T>(dependency: Dependency<T>): Promise<T>;
  /**
   * In a flow's parent: its children's outcomes, in the order they were given (a child whose
   * policy is `ignore` and that failed is left out). Elsewhere: an empty list.
   */
  childResults(): readonly ChildResult[];
}

export interface TaskOptions<Y = never> {
  name?: string;
  /** Queue the task is published to; the worker consumes the queues of its tasks. */
  queue?: string;
  /** Default priority of this task's calls; lower runs first. */
  priority?: number;
  /** Additional attempts after a failure (0: none). */
  retry?: number;
  /** Retry only errors of these classes (subclasses match). Default: any error. */
  retryOn?: readonly ErrorClass[];
  /** First backoff delay, doubled per attempt with jitter; defaults to config.retryDelayMs. */
  retryDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Per-attempt time limit, ms. The handler's signal aborts and the attempt fails at the deadline. */
  maxTime?: number;
  /** Default delay before the first delivery of each call, ms. */
  delay?: number;
  /**
   * The handler receives its TaskContext as first argument. Chosen here, explicitly: the types
   * never guess it from the handler's first parameter.
   */
  echo?: boolean;
  /**
   * For generator handlers: maps each yielded value; the mapped values form the result. (Typed
   * loosely so any value type is accepted; the handle's result type stays the yielded type.)
   */
  generateHandler?: (value: Y, ctx: TaskContext) => unknown;
  middlewaresBefore?: readonly MiddlewareBefore[];
  middlewaresAfter?: readonly MiddlewareAfter[];
  /** How long this task's final record is kept; defaults to config.resultTtlMs. */
  resultTtlMs?: number;
  /**
   * A Standard Schema of the argument tuple: checked at addTask (nothing is sent on failure) and
   * in the worker (a task that no longer validates ends in error, without retries); the handler
   * receives the schema's output, so it may transform (a string into a Date).
   */
  args?: ArgsSchema;
  /** A Standard Schema of the result: checked (and maybe transformed) before it is stored. */
  result?: ResultSchema;
  /** Lines `ctx.log` keeps per attempt (the latest ones), stored with the record (default 100; 0: none). */
  maxLogLines?: number;
  /**
   * At most `max` runs of this task start in any window of `perMs` ms, across every worker of
   * the app; with `key`, per value it returns for a call's args (per customer, per API token).
   */
  rateLimit?: RateLimit;
  /** At most this many runs of this task at once across every worker of the app. */
  globalConcurrency?: number;
  tags?: readonly string[];
  description?: string;
}

export interface AddTaskOptions {
  priority?: number;
  /** Delay before the first delivery, ms. */
  delay?: number;
  queue?: string;
  /** Wait up to this many ms for the final record (event driven); a WaitTimeoutError carries the id. */
  timeout?: number;
  /** Free-form JSON for plugins. */
  meta?: Record<string, unknown>;
  /**
   * Called with each progress value the task reports (`ctx.progress`, a generator's yields) while
   * it runs, from whatever process runs it. Needs `timeout` (the wait it belongs to).
   */
  onProgress?: (value: unknown) => void;
  /**
   * A caller-chosen task id, unique while a task with it is waiting, delayed, running or its
   * record is retained: adding it again returns that task's record, flagged `deduplicated`,
   * instead of a second run. 1..200 characters. See docs/flow-control.md.
   */
  id?: string;
  /** Drop (or, debounce: merge) this call when another with the same key is pending or recent. See `DedupOptions`. */
  dedup?: DedupOptions;
}

/** A task's app-wide rate limit (`TaskOptions.rateLimit`). */
export interface RateLimit {
  max: number;
  perMs: number;
  /** The limit's key for one call (its args): calls with different keys are limited apart. */
  key?: (...args: never[]) => string;
}

/**
 * Deduplication by key: `simple` drops a call while a task added with the key is still pending
 * (waiting, delayed, running or retrying); `throttle` drops calls for `ttlMs` after one was added;
 * `debounce` replaces the pending delayed task's args and restarts its delay (the last call of a
 * burst wins). A dropped call resolves with the existing task's record, flagged `deduplicated`.
 */
export interface DedupOptions {
  /** 1..200 characters, per app. */
  key: string;
  mode: 'simple' | 'throttle' | 'debounce';
  /** throttle: the window (required). simple: an upper bound on how long the key holds (optional). debounce: unused (the delay is the window). */
  ttlMs?: number;
}

/** A registered task as the worker sees it. */
export interface TaskDefinition {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
  readonly handler: (...args: never[]) => unknown;
  /**
   * Runs the task in place of calling `handler` (a sandboxed task's proxy to its sandbox). It
   * calls `startClock` when the handler itself starts: maxTime counts from there.
   */
  readonly run?: (ctx: TaskContext, args: readonly unknown[], startClock: () => void) => unknown;
}

export interface SharedTaskDefinition extends TaskDefinition {
  readonly shared: true;
}

/** Resolved type of a handler's result: a generator's yields become an array. */
export type TaskResult<R> =
  R extends AsyncGenerator<infer Y, unknown, unknown> ? Y[] : R extends Generator<infer Y, unknown, unknown> ? Y[] : Awaited<R>;

/** The typed handle `app.task` returns. */
export class TaskHandle<A extends unknown[], R> {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
  readonly #resolveApp: () => QueueTasks;

  constructor(name: string, options: Readonly<TaskOptions>, resolveApp: () => QueueTasks) {
    this.name = name;
    this.options = options;
    this.#resolveApp = resolveApp;
  }

  /** The app this handle enqueues to (for a shared task: appMain at call time). */
  get app(): QueueTasks {
    return this.#resolveApp();
  }

  /**
   * Enqueues a call. Without `options.timeout` resolves to the record in status `new` once the
   * broker has it; with it, to the final record.
   */
  async addTask(args: A, options?: AddTaskOptions): Promise<TaskRecord<A, TaskResult<R>>> {
    // async, so a missing app (NO_APP) rejects like every other failure instead of throwing.
    const app = this.#resolveApp();
    return app.addTask(this.name, args, {
      ...options,
      priority: options?.priority ?? this.options.priority,
      queue: options?.queue ?? this.options.queue,
      delay: options?.delay ?? this.options.delay,
    }) as Promise<TaskRecord<A, TaskResult<R>>>;
  }

  /**
   * Builds this call without sending it (a deferred call, or a workflow's step):
   * `await handle.with(args).addTask()` sends it as `handle.addTask(args)` would.
   */
  with(args: A, options?: AddTaskOptions): TaskCall<A, TaskResult<R>> {
    return new TaskCall<A, TaskResult<R>>(this, args, options);
  }

  /**
   * Enqueues one call per item of `calls` (each an args tuple), checked all first and sent
   * together; resolves with the records in input order. See `app.addTasks`.
   */
  async addTasks(calls: readonly A[], options?: BulkAddOptions): Promise<Array<TaskRecord<A, TaskResult<R>>>> {
    const app = this.#resolveApp();
    if (!Array.isArray(calls)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `task "${this.name}": addTasks takes an array of args tuples`);
    const merged: BulkAddOptions = {
      ...options,
      priority: options?.priority ?? this.options.priority,
      queue: options?.queue ?? this.options.queue,
      delay: options?.delay ?? this.options.delay,
    };
    const items = calls.map((args) => ({ name: this.name, args, options: merged }));
    return app.addTasks(items) as Promise<Array<TaskRecord<A, TaskResult<R>>>>;
  }

  /** Enqueues, waits up to `timeout` ms and returns the result; a failed task rejects with its error. */
  async run(args: A, options: AddTaskOptions & { timeout: number }): Promise<TaskResult<R>> {
    const record = await this.addTask(args, options);
    if (record.status === 'success') return record.returning as TaskResult<R>;
    const err = new QTasksError(ErrorCodes.TASK_FAILED, `task ${record.id} ended in ${record.status}: ${record.error?.message ?? record.reason ?? ''}`);
    throw Object.assign(err, { record });
  }
}

const NAME_OK = /^[^\s]/;

export function checkTaskName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || !NAME_OK.test(name) || name.length > 512) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task name must be a non-empty string of at most 512 characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

function nonNegative(task: string, key: string, value: unknown, integer = false): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${task}": ${key} must be a ${integer ? 'whole ' : ''}number >= 0, got ${String(value)}`);
  }
}

export function checkTaskOptions(name: string, options: TaskOptions, known: Readonly<Record<string, true>> = TASK_OPTION_KEYS): void {
  rejectUnknownKeys(options, known, `task "${name}"`);
  nonNegative(name, 'retry', options.retry, true);
  nonNegative(name, 'retryDelayMs', options.retryDelayMs);
  nonNegative(name, 'retryMaxDelayMs', options.retryMaxDelayMs);
  nonNegative(name, 'delay', options.delay);
  nonNegative(name, 'resultTtlMs', options.resultTtlMs);
  nonNegative(name, 'maxLogLines', options.maxLogLines, true);
  if (options.maxTime !== undefined && (typeof options.maxTime !== 'number' || !(options.maxTime > 0) || !Number.isFinite(options.maxTime))) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": maxTime must be a positive number of ms, got ${String(options.maxTime)}`);
  }
  if (options.priority !== undefined && (typeof options.priority !== 'number' || !Number.isFinite(options.priority))) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": priority must be a finite number, got ${String(options.priority)}`);
  }
  if (options.queue !== undefined) checkTaskName(options.queue);
  checkFlowOptions(name, options);
}

function checkFlowOptions(name: string, options: TaskOptions): void {
  const g = options.globalConcurrency;
  if (g !== undefined && !(typeof g === 'number' && Number.isInteger(g) && g >= 1)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": globalConcurrency must be a whole number >= 1, got ${String(g)}`);
  }
  const r = options.rateLimit;
  if (r === undefined) return;
  if (r === null || typeof r !== 'object') throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": rateLimit must be { max, perMs, key? }`);
  rejectUnknownKeys(r, { max: true, perMs: true, key: true }, `rateLimit of task "${name}"`);
  if (!(typeof r.max === 'number' && Number.isInteger(r.max) && r.max >= 1)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": rateLimit.max must be a whole number >= 1, got ${String(r.max)}`);
  if (!(typeof r.perMs === 'number' && Number.isInteger(r.perMs) && r.perMs >= 1)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": rateLimit.perMs must be a whole number of ms >= 1, got ${String(r.perMs)}`);
  if (r.key !== undefined && typeof r.key !== 'function') throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": rateLimit.key must be a function of the task's args`);
}

/** The JSON form of a task's result: the result schema's output if it has one, else what the handler returns. */
export type StoredResult<RS, R> = RS extends ResultSchema ? StandardSchemaV1.InferOutput<RS> : TaskResult<R>;
/** The handle's result type parameter (TaskResult of it is what callers get). */
export type HandleResult<RS, R> = RS extends ResultSchema ? StandardSchemaV1.InferOutput<RS> : R;

/**
 * A handler whose parameters (the task's arguments) and result survive JSON; anything else is a
 * compile error naming the place (see json-types.ts). With a result schema (`RS`), what is
 * checked is the schema's output.
 */
export type TaskHandler<A extends unknown[], R, RS = undefined> = ((...args: A) => R) & JsonChecked<A, StoredResult<RS, R>>;
/** The same, for `echo: true`: the context comes first and is not one of the task's arguments. */
export type EchoTaskHandler<A extends unknown[], R, RS = undefined> = ((ctx: TaskContext, ...args: A) => R) & JsonChecked<A, StoredResult<RS, R>>;
/** A handler of a task with an args schema: it takes the schema's output; callers pass its input, which must be JSON. */
export type SchemaTaskHandler<S extends ArgsSchema, R, RS = undefined> = ((...args: SchemaOutput<S>) => R) & JsonChecked<SchemaInput<S>, StoredResult<RS, R>>;
export type EchoSchemaTaskHandler<S extends ArgsSchema, R, RS = undefined> = ((ctx: TaskContext, ...args: SchemaOutput<S>) => R) &
  JsonChecked<SchemaInput<S>, StoredResult<RS, R>>;
/** Options of a handler that does not take its context. */
export type PlainTaskOptions<RS = undefined> = TaskOptions & { name: string; echo?: false; processor?: undefined; args?: undefined; result?: RS };
/** Options of a handler whose first parameter is its TaskContext. */
export type EchoTaskOptions<RS = undefined> = TaskOptions & { name: string; echo: true; processor?: undefined; args?: undefined; result?: RS };
/** Options of a task whose arguments a schema validates (and may transform). */
export type SchemaTaskOptions<S extends ArgsSchema, RS = undefined> = TaskOptions & { name: string; echo?: false; processor?: undefined; args: S; result?: RS };
export type EchoSchemaTaskOptions<S extends ArgsSchema, RS = undefined> = TaskOptions & { name: string; echo: true; processor?: undefined; args: S; result?: RS };

/**
 * Declares a task that belongs to no app: it is adopted by every app that starts after this
 * call (option `sharedTasks: false` opts out), and its `addTask` enqueues through `appMain`.
 */
export function sharedTask<S extends ArgsSchema, R, RS extends ResultSchema | undefined = undefined>(
  options: EchoSchemaTaskOptions<S, RS>,
  handler: EchoSchemaTaskHandler<S, R, RS>,
): TaskHandle<SchemaInput<S>, HandleResult<RS, R>>;
export function sharedTask<S extends ArgsSchema, R, RS extends ResultSchema | undefined = undefined>(
  options: SchemaTaskOptions<S, RS>,
  handler: SchemaTaskHandler<S, R, RS>,
): TaskHandle<SchemaInput<S>, HandleResult<RS, R>>;
export function sharedTask<A extends unknown[], R, RS extends ResultSchema | undefined = undefined>(
  options: EchoTaskOptions<RS>,
  handler: EchoTaskHandler<A, R, RS>,
): TaskHandle<A, HandleResult<RS, R>>;
export function sharedTask<A extends unknown[], R, RS extends ResultSchema | undefined = undefined>(
  options: string | PlainTaskOptions<RS>,
  handler: TaskHandler<A, R, RS>,
): TaskHandle<A, HandleResult<RS, R>>;
export function sharedTask(options: string | TaskOptions, handler: (...args: never[]) => unknown): TaskHandle<unknown[], unknown> {
  const opts: TaskOptions = typeof options === 'string' ? { name: options } : { ...options };
  const name = checkTaskName(opts.name);
  checkTaskOptions(name, opts);
  checkSchemaOptions(name, opts);
  // Apps adopt shared tasks as they start: the app this handle enqueues through would accept the
  // call and its worker fail it with UNKNOWN_TASK. Refused here, where the fix is obvious.
  const main = appMain();
  if (main !== undefined && main.adoptsSharedTasks && main.state !== 'created') {
    throw new QTasksError(
      ErrorCodes.ALREADY_STARTED,
      `sharedTask "${name}" declared after app "${main.name}" started (${main.state}): declare shared tasks before start(), for example by importing their modules first`,
    );
  }
  const definition: SharedTaskDefinition = { name, options: Object.freeze(opts), handler, shared: true };
  sharedTaskDefinitions.set(name, definition);
  return new TaskHandle(name, definition.options, () => requireAppMain(`sharedTask "${name}"`));
}
