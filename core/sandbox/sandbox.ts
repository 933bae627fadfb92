/**
 * One sandbox: a worker thread or a child process running CHILD_SOURCE for one processor, one
 * task at a time. Any fault (crash, out of memory, a kill after a timeout, a failed init) ends
 * it for good: the pool never hands out a sandbox that misbehaved once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Worker as Thread, type ResourceLimits } from 'node:worker_threads';
import { ErrorCodes, NoRetryError, QTasksError, RetryLaterError, TaskCancelError } from '../errors.js';
import type { TaskContext } from '../task.js';
import { CHILD_SOURCE } from './child-source.js';

export type SandboxKind = 'thread' | 'process';

export interface SandboxSpec {
  readonly kind: SandboxKind;
  /** The processor module, as a URL href import() accepts. */
  readonly processor: string;
  readonly resourceLimits?: ResourceLimits;
  readonly execArgv?: readonly string[];
}

/** A sandbox ended while running a task, or before it was ready. */
export class SandboxCrashedError extends QTasksError {
  readonly exitCode: number | null;
  readonly signal: string | null;

  constructor(message: string, exitCode: number | null, signal: string | null) {
    super(ErrorCodes.SANDBOX_CRASHED, message);
    this.name = 'SandboxCrashedError';
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  delayMs?: number;
}

type FromChild =
  | { t: 'ready' }
  | { t: 'init-error'; message: string }
  | { t: 'done'; id: string; ok: true; value: unknown }
  | { t: 'done'; id: string; ok: false; error: ErrorData }
  | { t: 'log'; id: string; level: string; obj: unknown; msg: string | undefined }
  | { t: 'progress'; id: string; value: unknown }
  | { t: 'line'; id: string; text: string };

interface Current {
  readonly ctx: TaskContext;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** The error a handler threw in the sandbox, as the executor expects it (cancel and retry signals keep their meaning). */
function rebuild(data: ErrorData): Error {
  let err: Error;
  if (data.code === ErrorCodes.TASK_CANCELLED) err = new TaskCancelError(data.message);
  else if (data.name === 'NoRetryError') err = new NoRetryError(data.message);
  else if (data.name === 'RetryLaterError' && typeof data.delayMs === 'number') err = new RetryLaterError(data.delayMs, data.message);
  else {
    err = new Error(data.message);
    err.name = data.name;
    if (data.code !== undefined) Object.assign(err, { code: data.code });
  }
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

/** V8 heap flags for a child process, from the thread form of the limits. */
function heapFlags(limits: ResourceLimits | undefined): string[] {
  const flags: string[] = [];
  if (limits?.maxOldGenerationSizeMb !== undefined) flags.push(`--max-old-space-size=${limits.maxOldGenerationSizeMb}`);
  if (limits?.maxYoungGenerationSizeMb !== undefined) flags.push(`--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`);
  if (limits?.stackSizeMb !== undefined) flags.push(`--stack-size=${Math.floor(limits.stackSizeMb * 1024)}`);
  return flags;
}

export class Sandbox {
  readonly kind: SandboxKind;
  readonly ready: Promise<void>;
  #thread: Thread | undefined;
  #child: ChildProcess | undefined;
  #current: Current | undefined;
  #dead: Error | undefined;
  #seq = 0;
  #onEnd: () => void = () => undefined;

  constructor(spec: SandboxSpec) {
    this.kind = spec.kind;
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    this.ready.catch(() => undefined); // read by the pool; a crash before anyone waits is not unhandled
    let initError: string | undefined;
    const onMessage = (m: FromChild): void => {
      if (m.t === 'ready') readyResolve();
      else if (m.t === 'init-error') {
        initError = m.message;
        readyReject(new QTasksError(ErrorCodes.SANDBOX_INVALID, m.message));
        this.kill();
      } else this.#fromChild(m);
    };
    let oom = false;
    const onExit = (code: number | null, signal: string | null): void => {
      const why = oom ? 'ran out of memory (resourceLimits)' : `exited (code ${String(code)}${signal !== null ? `, signal ${signal}` : ''})`;
      const err = new SandboxCrashedError(`sandbox ${this.kind} ${why}`, code, signal);
      this.#dead ??= err;
      if (initError === undefined) readyReject(new QTasksError(ErrorCodes.SANDBOX_INVALID, `sandbox for ${spec.processor} ${why} before it was ready`));
      const current = this.#current;
      this.#current = undefined;
      current?.reject(this.#dead);
      this.#onEnd();
    };
    if (spec.kind === 'thread') {
      const thread = new Thread(CHILD_SOURCE, {
        eval: true,
        workerData: { processor: spec.processor },
        ...(spec.resourceLimits !== undefined ? { resourceLimits: spec.resourceLimits } : {}),
        ...(spec.execArgv !== undefined ? { execArgv: [...spec.execArgv] } : {}),
      });
      thread.on('message', onMessage);
      thread.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') oom = true;
        this.#dead ??= new SandboxCrashedError(`sandbox thread failed: ${err.message}`, null, null);
      });
      thread.on('exit', (code) => onExit(code, null));
      this.#thread = thread;
    } else {
      // Its own process group (detached), so a kill reaches whatever the processor spawned too.
      const child = spawn(process.execPath, [...heapFlags(spec.resourceLimits), ...(spec.execArgv ?? []), '-e', CHILD_SOURCE], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        detached: true,
        env: { ...process.env, QTASKS_SANDBOX_PROCESSOR: spec.processor },
      });
      child.on('message', (m) => onMessage(m as FromChild));
      child.on('error', (err) => {
        this.#dead ??= new SandboxCrashedError(`sandbox process failed: ${err.message}`, null, null);
      });
      child.on('exit', (code, signal) => onExit(code, signal));
      this.#child = child;
    }
  }

  /** False once it crashed, was killed or failed to start: it must not run anything again. */
  get alive(): boolean {
    return this.#dead === undefined;
  }

  /** Called once when the sandbox has ended (for the pool to replace it). */
  onEnd(fn: () => void): void {
    this.#onEnd = fn;
  }

  /** Runs one task; rejects with the handler's error, or a SandboxCrashedError. */
  run(ctx: TaskContext, args: readonly unknown[], echo: boolean): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = String(++this.#seq);
    return new Promise((resolve, reject) => {
      this.#current = { ctx, resolve, reject };
      this.#ref(true);
      const message = { t: 'run', id, args, echo, ctx: { id: ctx.id, name: ctx.name, queue: ctx.queue, priority: ctx.priority, attempt: ctx.attempt } };
      try {
        this.#send(message);
      } catch (err) {
        this.#current = undefined;
        reject(err as Error);
      }
    });
  }

  /** The soft stop: the handler's signal aborts inside the sandbox. */
  abort(reason: string): void {
    if (this.#dead !== undefined) return;
    try {
      this.#send({ t: 'abort', id: String(this.#seq), reason });
    } catch {
      // the channel is gone; the kill that follows ends it
    }
  }

  /** The hard stop: terminate the thread, or SIGKILL the child's whole process group. */
  kill(): void {
    this.#dead ??= new SandboxCrashedError(`sandbox ${this.kind} was terminated`, null, 'SIGKILL');
    if (this.#thread !== undefined) void this.#thread.terminate();
    const child = this.#child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  }

  #send(message: object): void {
    if (this.#thread !== undefined) this.#thread.postMessage(message);
    else this.#child!.send(message as never);
  }

  /** An idle sandbox does not keep the process alive; a busy one does. */
  #ref(busy: boolean): void {
    const target = this.#thread ?? this.#child;
    if (target === undefined) return;
    if (busy) target.ref();
    else target.unref();
    const channel = this.#child?.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (busy) channel?.ref?.();
    else channel?.unref?.();
  }

  idle(): void {
    this.#ref(false);
  }

  #fromChild(m: FromChild): void {
    const current = this.#current;
    if (current === undefined || !('id' in m) || m.id !== String(this.#seq)) return; // late news of an earlier task
    if (m.t === 'log') {
      const log = current.ctx.logger as unknown as Record<string, (obj: unknown, msg?: string) => void>;
      const fn = log[m.level] ?? log.info!;
      if (m.obj === undefined) fn.call(current.ctx.logger, m.msg);
      else fn.call(current.ctx.logger, m.obj, m.msg);
    } else if (m.t === 'line') {
      current.ctx.log(m.text);
    } else if (m.t === 'progress') {
      current.ctx.progress(m.value);
    } else if (m.t === 'done') {
      this.#current = undefined;
      if (m.ok) current.resolve(m.value);
      else current.reject(rebuild(m.error));
    }
  }
}
