/**
 * Runs one attempt of a task: hooks, middlewares, maxTime, echo, generators, and the retry
 * decision. It never rejects: every way an attempt can end is an Outcome.
 */
import { CHILDREN_META, type ChildResult } from './workflow/link.js';
import { guardStep } from './workflow/guard.js';
import type { QueueTasks } from './app.js';
import type { Delivery } from './contracts.js';
import { ErrorCodes, NoRetryError, QTasksError, RetryLaterError, TaskCancelError, TaskTimeoutError, toError } from './errors.js';
import { aroundAttempt } from './around.js';
import type { KernelHooks } from './hooks.js';
import type { LoggerLike } from './logger.js';
import type { Dependency, ScopeInstance } from './di/container.js';
import { validate } from './schema.js';
import { setLongTimeout, type LongTimer } from './timers.js';
import type { TaskContext, TaskDefinition } from './task.js';

/** How an attempt ended, before the worker stores it (`task.around` runners see it). */
export type TaskOutcome =
  | { readonly kind: 'success'; readonly returning: unknown }
  | { readonly kind: 'error'; readonly error: Error }
  | { readonly kind: 'cancel'; readonly reason: string }
  | { readonly kind: 'retry'; readonly error: Error; readonly delayMs: number };
export type Outcome = TaskOutcome;

/** Aborts a running attempt because the worker is stopping; its delivery is left unsettled. */
export class ShutdownAbort extends Error {
  constructor() {
    super('worker stopped before the task finished');
    this.name = 'ShutdownAbort';
  }
}

class Context implements TaskContext {
  readonly app: QueueTasks;
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly priority: number;
  readonly attempt: number;
  #controller: AbortController | undefined;
  #logger: LoggerLike | undefined;
  readonly #hooks: KernelHooks;
  readonly #report: ((delivery: Delivery, value: unknown) => void) | undefined;
  readonly #delivery: Delivery;
  /** The last progress value, stored on the final record. */
  lastProgress: unknown = undefined;
  finished = false;
  /** Lines from ctx.log, the latest `maxLogLines`; undefined until the first. */
  lines: string[] | undefined;
  readonly #maxLines: number;
  #scope: ScopeInstance | undefined;

  constructor(app: QueueTasks, delivery: Delivery, maxLines: number, report?: (delivery: Delivery, value: unknown) => void) {
    this.#report = report;
    this.#maxLines = maxLines;
    this.#delivery = delivery;
    const m = delivery.message;
    this.app = app;
    this.id = m.id;
    this.name = m.name;
    this.queue = m.queue;
    this.priority = m.priority;
    this.attempt = delivery.attempt;
    this.#hooks = app.hooks;
  }

  // Created on first use: most tasks never look at their signal, and an AbortController per task is measurable.
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get logger(): LoggerLike {
    this.#logger ??= this.app.logger('Task', { taskId: this.id, task: this.name, attempt: this.attempt });
    return this.#logger;
  }

  abort(reason: Error): void {
    this.#controller ??= new AbortController();
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  get aborted(): Error | undefined {
    return this.#controller?.signal.aborted === true ? (this.#controller.signal.reason as Error) : undefined;
  }

  cancel(reason = 'cancelled'): never {
    throw new TaskCancelError(reason);
  }

  use<T>(dependency: Dependency<T>): Promise<T> {
    this.#scope ??= this.app.dependencies.task();
    return this.#scope.get(dependency);
  }

  /** Whether the attempt used a task-scoped value (most do not: then nothing is awaited at the end). */
  get scoped(): boolean {
    return this.#scope !== undefined;
  }

  /** Disposes this attempt's task-scoped values (after it ended, however it ended). */
  async closeScope(): Promise<void> {
    const scope = this.#scope;
    if (scope === undefined) return;
    this.#scope = undefined;
    await scope.dispose(this.logger);
  }

  log(...parts: unknown[]): void {
    if (this.#maxLines === 0) return;
    let line = parts.map(textOf).join(' ');
    if (line.length > MAX_LINE) line = `${line.slice(0, MAX_LINE)}…`;
    const lines = (this.lines ??= []);
    lines.push(line);
    if (lines.length > this.#maxLines) lines.shift();
  }

  childResults(): readonly ChildResult[] {
    const list = this.#delivery.message.meta?.[CHILDREN_META];
    return Array.isArray(list) ? (list as ChildResult[]) : [];
  }

  progress(value: unknown): void {
    this.lastProgress = value;
    if (this.#hooks.task.progress.isUsed()) this.#hooks.task.progress.call(value, this);
    this.#report?.(this.#delivery, value);
  }
}

/** Longest stored log line, characters (the rest is cut). */
const MAX_LINE = 2_000;
const DEFAULT_MAX_LOG_LINES = 100;

function textOf(part: unknown): string {
  return typeof part === 'string' ? part : part instanceof Error ? `${part.name}: ${part.message}` : safeJson(part);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export interface Execution {
  readonly ctx: TaskContext;
  /** The lines logged with ctx.log, undefined if none. */
  readonly logs: readonly string[] | undefined;
  /** The last value passed to ctx.progress (or yielded), undefined if none. */
  readonly lastProgress: unknown;
  /** The outcome exists (set the moment it does, before `done` resolves): a stopping worker settles it rather than abandon it. */
  readonly finished: boolean;
  readonly done: Promise<Outcome>;
  /** Abort the attempt (shutdown); the outcome is then a ShutdownAbort error. */
  abort(reason: Error): void;
}

function isIterator(value: unknown): value is AsyncIterator<unknown> | Iterator<unknown> {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<symbol | string, unknown>;
  return typeof v.next === 'function' && (typeof v[Symbol.asyncIterator] === 'function' || typeof v[Symbol.iterator] === 'function');
}

function backoff(base: number, max: number, attempt: number): number {
  const raw = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  // "equal jitter": at least half the delay, so retries still spread out but never fire at once.
  return Math.round(raw / 2 + Math.random() * (raw / 2));
}

/**
 * One attempt: a class, not an object literal with getters (those are built through the runtime,
 * slowly, once per task).
 */
class Attempt implements Execution {
  readonly ctx: Context;
  readonly done: Promise<Outcome>;

  constructor(app: QueueTasks, def: TaskDefinition, delivery: Delivery, report?: (delivery: Delivery, value: unknown) => void) {
    const ctx = (this.ctx = new Context(app, delivery, def.options.maxLogLines ?? DEFAULT_MAX_LOG_LINES, report));
    const around = app.hooks.task.around;
    this.done = around.isUsed() ? aroundAttempt(around, () => run(app, def, delivery, ctx), ctx, delivery) : run(app, def, delivery, ctx);
  }

  get logs(): readonly string[] | undefined {
    return this.ctx.lines;
  }

  get lastProgress(): unknown {
    return this.ctx.lastProgress;
  }

  get finished(): boolean {
    return this.ctx.finished;
  }

  abort(reason: Error): void {
    this.ctx.abort(reason);
  }
}

/** `report` receives each progress value (the control plane stores and publishes it). */
export function execute(app: QueueTasks, def: TaskDefinition, delivery: Delivery, report?: (delivery: Delivery, value: unknown) => void): Execution {
  return new Attempt(app, def, delivery, report);
}

/** A task's maxTime: created only for a task that has one (the common task pays for no timer and no closure). */
class Deadline {
  readonly #ms: number;
  readonly #ctx: Context;
  #timer: LongTimer | undefined;
  #at = Number.POSITIVE_INFINITY;

  constructor(ms: number, ctx: Context) {
    this.#ms = ms;
    this.#ctx = ctx;
  }

  /** Starts the clock (once). */
  arm(): void {
    if (this.#timer !== undefined) return;
    const ms = this.#ms;
    const ctx = this.#ctx;
    this.#timer = setLongTimeout(() => ctx.abort(new TaskTimeoutError(ms)), ms);
    this.#at = performance.now() + ms;
  }

  /** Aborts with a timeout if the deadline passed while the handler held the loop. */
  overran(): void {
    if (this.#ctx.aborted === undefined && performance.now() >= this.#at) this.#ctx.abort(new TaskTimeoutError(this.#ms));
  }

  cancel(): void {
    this.#timer?.cancel();
  }
}

const NO_CLOCK = (): void => undefined;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return ((typeof value === 'object' && value !== null) || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

async function run(app: QueueTasks, def: TaskDefinition, delivery: Delivery, ctx: Context): Promise<Outcome> {
  const hooks = app.hooks;
  const opts = def.options;
  const deadline = opts.maxTime === undefined ? undefined : new Deadline(opts.maxTime, ctx);
  try {
    let args: readonly unknown[] = delivery.message.args;
    if (hooks.task.beforeExecute.isUsed()) args = await hooks.task.beforeExecute.promise(args, ctx);
    // a workflow step a worker enqueued does not run once its workflow is cancelled (core/workflow/guard.ts)
    if (delivery.message.id.includes('.')) {
      const guarded = guardStep(app, ctx, delivery.message);
      if (guarded !== undefined) await guarded;
    }
    if (opts.middlewaresBefore !== undefined) for (const mw of opts.middlewaresBefore) await mw(ctx);
    // The worker's schema has the last word: a task from an older producer may no longer fit.
    if (opts.args !== undefined) args = (await validate(opts.args, args, def.name, 'args', ErrorCodes.INVALID_ARGS)) as readonly unknown[];
    const handler = def.handler as (...a: unknown[]) => unknown;
    // Armed before the call: a handler that blocks the loop, then yields, is still caught at once.
    // A runner (a sandbox) arms it itself once the handler starts, not while it waits for a sandbox.
    let work: unknown;
    if (def.run !== undefined) work = def.run(ctx, args, deadline === undefined ? NO_CLOCK : () => deadline.arm());
    else {
      deadline?.arm();
      work = opts.echo === true ? handler(ctx, ...args) : handler(...args);
    }
    if (isIterator(work)) work = collect(work, def, ctx);
    let result: unknown;
    if (deadline !== undefined) {
      result = await raceAbort(work, ctx);
      // The loop cannot pre-empt a handler that never yields: its overrun is seen when it returns.
      deadline.overran();
    } else {
      // No deadline: a stopping worker abandons the attempt instead of waiting on it (see worker.ts).
      // A plain value (a synchronous handler) is not awaited: one microtask fewer per task.
      result = isThenable(work) ? await work : work;
    }
    if (hooks.task.afterExecute.isUsed()) result = await hooks.task.afterExecute.promise(result, ctx);
    if (opts.middlewaresAfter !== undefined) {
      for (const mw of opts.middlewaresAfter) {
        const replaced = await mw(ctx, result);
        if (replaced !== undefined) result = replaced;
      }
    }
    const aborted = ctx.aborted;
    if (aborted !== undefined) throw aborted;
    if (opts.result !== undefined) result = await validate(opts.result, result, def.name, 'result', ErrorCodes.INVALID_RESULT);
    return { kind: 'success', returning: result };
  } catch (thrown) {
    deadline?.overran();
    const error = ctx.aborted ?? toError(thrown);
    return decide(app, def, delivery, ctx, error);
  } finally {
    ctx.finished = true;
    deadline?.cancel();
    if (ctx.scoped) await ctx.closeScope();
  }
}

/** Settles at the handler's result or at abort, whichever comes first: a task fails at its deadline, not after it. */
function raceAbort(work: unknown, ctx: Context): Promise<unknown> {
  const signal = ctx.signal;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(work).then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function collect(it: AsyncIterator<unknown> | Iterator<unknown>, def: TaskDefinition, ctx: Context): Promise<unknown[]> {
  const out: unknown[] = [];
  const map = def.options.generateHandler;
  for (;;) {
    const aborted = ctx.aborted;
    if (aborted !== undefined) {
      await it.return?.();
      throw aborted;
    }
    const step = await it.next();
    if (step.done === true) return out;
    const value = map !== undefined ? await map(step.value as never, ctx) : step.value;
    out.push(value);
    ctx.progress(value);
  }
}

function decide(app: QueueTasks, def: TaskDefinition, delivery: Delivery, ctx: Context, error: Error): Outcome {
  try {
    return decideRetry(app, def, delivery, ctx, error);
  } catch (hookError) {
    // A shouldRetry or retryDelay tap failed: no retry (a buggy policy must not loop a task). The
    // task keeps its own error; the plugin's goes to the log.
    ctx.logger.error({ err: hookError }, 'retry policy failed; not retrying');
    return { kind: 'error', error };
  }
}

function decideRetry(app: QueueTasks, def: TaskDefinition, delivery: Delivery, ctx: Context, error: Error): Outcome {
  if (error instanceof ShutdownAbort) return { kind: 'error', error };
  if (error instanceof TaskCancelError) return { kind: 'cancel', reason: error.message };
  if (error instanceof NoRetryError) return { kind: 'error', error };
  // Arguments or a result a schema refused will be refused again: no retry.
  if (error instanceof QTasksError && (error.code === ErrorCodes.INVALID_ARGS || error.code === ErrorCodes.INVALID_RESULT)) return { kind: 'error', error };
  const opts = def.options;
  const retries = opts.retry ?? 0;
  let retry: boolean | undefined;
  if (app.hooks.task.shouldRetry.isUsed()) retry = app.hooks.task.shouldRetry.call(error, ctx);
  if (retry === undefined) {
    const matches = opts.retryOn === undefined || opts.retryOn.some((cls) => error instanceof cls);
    retry = error instanceof RetryLaterError || matches;
    // Deliveries lost with an innocent worker (delivery.lost) are not the task's attempts.
    retry = retry && delivery.attempt - (delivery.lost ?? 0) <= retries;
  }
  if (!retry) return { kind: 'error', error };
  let delayMs =
    error instanceof RetryLaterError
      ? error.delayMs
      : backoff(opts.retryDelayMs ?? app.config.retryDelayMs, opts.retryMaxDelayMs ?? app.config.retryMaxDelayMs, delivery.attempt);
  if (app.hooks.task.retryDelay.isUsed()) delayMs = app.hooks.task.retryDelay.call(delayMs, ctx);
  return { kind: 'retry', error, delayMs };
}
