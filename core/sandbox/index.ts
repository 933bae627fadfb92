/**
 * Sandboxed tasks: `app.task({ name, processor, sandbox })`. The processor module's default
 * export is the handler; it runs in a pool of worker threads or child processes sized to the
 * worker's concurrency. The main side keeps the deadline: at `maxTime` the handler's signal
 * aborts inside the sandbox (soft), and `sandboxGraceMs` later the thread is terminated or the
 * process group killed (hard). The attempt has already failed with the time-limit error then.
 */
import { access } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import type { QueueTasks } from '../app.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import type { TaskContext, TaskDefinition, TaskOptions } from '../task.js';
import { SandboxPool } from './pool.js';
import type { SandboxKind } from './sandbox.js';

export { SandboxCrashedError, type SandboxKind } from './sandbox.js';

/** What a sandboxed handler's context has: everything but `app` and `use`, which stay in the main thread. */
export type SandboxContext = Omit<TaskContext, 'app' | 'use'>;

export interface SandboxOptions {
  /** The processor module (a file URL, or a path); its default export is the handler. */
  processor: URL | string;
  /** Where it runs (default `'thread'`). */
  sandbox?: SandboxKind;
  /** V8 heap limits (threads: as given; processes: as `--max-old-space-size` and friends). */
  resourceLimits?: ResourceLimits;
  /** Node flags for the sandbox (a loader such as `['--import', 'tsx']` for a TypeScript processor). */
  execArgv?: readonly string[];
  /** Between the soft abort at `maxTime` and the termination, ms (default 100). */
  sandboxGraceMs?: number;
}

const DEFAULT_GRACE_MS = 100;

function processorHref(name: string, processor: unknown): string {
  if (processor instanceof URL) return processor.href;
  if (typeof processor === 'string' && processor !== '') return processor.startsWith('file:') ? processor : pathToFileURL(processor).href;
  throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": processor must be a file URL or a path, got ${String(processor)}`);
}

function checkSandboxOptions(name: string, options: TaskOptions & SandboxOptions): void {
  const kind = options.sandbox ?? 'thread';
  if (kind !== 'thread' && kind !== 'process') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": sandbox must be 'thread' or 'process', got ${String(kind)}`);
  }
  const grace = options.sandboxGraceMs;
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": sandboxGraceMs must be a number >= 0, got ${String(grace)}`);
  }
  if (options.generateHandler !== undefined || options.middlewaresBefore !== undefined || options.middlewaresAfter !== undefined) {
    // They would have to run in the main thread, apart from the handler they wrap; hooks do that job.
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${name}": generateHandler and middlewares are not available for sandboxed tasks (use the task hooks)`);
  }
}

/**
 * The definition of a sandboxed task, with its pool wired to the app's lifecycle: the processor
 * is checked at start (the file must exist; a worker also loads it in one sandbox, so a module
 * without a default-exported function fails start) and every sandbox is killed at stop.
 */
export function sandboxDefinition(app: QueueTasks, name: string, options: TaskOptions & SandboxOptions): TaskDefinition {
  checkSandboxOptions(name, options);
  const href = processorHref(name, options.processor);
  const pool = new SandboxPool({
    kind: options.sandbox ?? 'thread',
    processor: href,
    ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {}),
    ...(options.execArgv !== undefined ? { execArgv: options.execArgv } : {}),
  });
  const graceMs = options.sandboxGraceMs ?? DEFAULT_GRACE_MS;
  const echo = options.echo === true;
  app.hooks.lifecycle.start.tapPromise(`qtasks:sandbox:${name}`, async ({ worker }) => {
    if (href.startsWith('file:')) {
      const path = fileURLToPath(href);
      await access(path).catch(() => {
        throw new QTasksError(ErrorCodes.SANDBOX_INVALID, `task "${name}": processor ${path} does not exist`);
      });
    }
    if (!worker) return;
    try {
      await pool.warm(app.config.concurrency);
    } catch (err) {
      throw new QTasksError(ErrorCodes.SANDBOX_INVALID, `task "${name}": ${(err as Error).message}`, { cause: err });
    }
  });
  app.hooks.lifecycle.stop.tap(`qtasks:sandbox:${name}`, () => pool.close());

  const run = async (ctx: TaskContext, args: readonly unknown[], startClock: () => void): Promise<unknown> => {
    const sandbox = await pool.acquire(ctx.signal);
    startClock(); // waiting for a free (or new) sandbox is not the handler's time
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      sandbox.abort((ctx.signal.reason as Error | undefined)?.message ?? 'aborted');
      timer = setTimeout(() => sandbox.kill(), graceMs);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await sandbox.run(ctx, args, echo);
    } finally {
      // Settled: by the handler (its own error leaves the sandbox usable), or by the sandbox's end.
      // After an abort it is discarded even if the handler stopped in time: any fault ends it.
      ctx.signal.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
      pool.release(sandbox, sandbox.alive && !ctx.signal.aborted);
    }
  };
  const handler = (): never => {
    throw new QTasksError(ErrorCodes.UNSUPPORTED, `task "${name}" runs in a sandbox; its handler is the processor's default export`);
  };
  return { name, options: Object.freeze({ ...options }), handler, run };
}
