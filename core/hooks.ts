/**
 * The hook catalogue: every kernel hook, declared once. `docs/hooks.md` lists them in this order.
 * Bail hooks: `undefined` means "pass"; any other value answers. Waterfalls: `undefined` keeps
 * the previous value.
 */
import {
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  SyncBailHook,
  SyncHook,
  SyncWaterfallHook,
} from 'tapable';
import type { QueueTasks } from './app.js';
import type { Broker, Delivery, GlobalConfig, Storage } from './contracts.js';
import type { LoggerLike } from './logger.js';
import type { TaskMessage, TaskRecord } from './record.js';
import type { TaskContext, TaskDefinition } from './task.js';
import type { TaskOutcome } from './executor.js';

/** One attempt of a task, as `task.around` wraps it: resolves with its outcome, never rejects. */
export type AttemptRunner = () => Promise<TaskOutcome>;

/** Passed to `lifecycle.start` and `lifecycle.stop` taps. */
export interface LifecycleContext {
  readonly app: QueueTasks;
  /** Whether this app runs a worker (consumes tasks). */
  readonly worker: boolean;
}

/** Passed to `broker.beforePublish` taps. */
export interface PublishContext {
  readonly app: QueueTasks;
  /** Delay before the first delivery, ms. */
  readonly delayMs: number;
}

/** What a component asks `logging.provide` for. */
export interface LoggerRequest {
  readonly app: QueueTasks;
  /** `QueueTasks`, `Worker`, a plugin's name... */
  readonly component: string;
  /** Extra fields to bind (for a task: taskId, task, attempt). */
  readonly bindings?: Readonly<Record<string, unknown>>;
}

export function createHooks() {
  return Object.freeze({
    lifecycle: Object.freeze({
      /** End of the app's constructor, after every plugin's `apply`. Wire things that need all plugins present. */
      init: new SyncHook<[QueueTasks]>(['app']),
      /** `start()`, after broker and storage connected and before the worker consumes. Ordered by stage; a throw fails start. */
      start: new AsyncSeriesHook<[LifecycleContext]>(['ctx']),
      /** The app is started (and consuming, if it runs a worker). */
      started: new SyncHook<[QueueTasks]>(['app']),
      /** `stop()`, after the worker drained, before broker and storage disconnect. Taps run in reverse; every tap runs; failures are collected. */
      stop: new AsyncSeriesHook<[LifecycleContext]>(['ctx']),
      /** Everything is stopped. */
      stopped: new SyncHook<[QueueTasks]>(['app']),
    }),
    broker: Object.freeze({
      /** At start: return this app's Broker. First answer wins; none means the in-memory broker. */
      provide: new SyncBailHook<[QueueTasks], Broker | undefined>(['app']),
      /** Before a message is published: return a replacement message (add meta, change priority or queue). */
      beforePublish: new AsyncSeriesWaterfallHook<[TaskMessage, PublishContext]>(['message', 'ctx']),
      /** After the broker confirmed a message. */
      afterPublish: new SyncHook<[TaskMessage]>(['message']),
      /** The message was not published (not plain JSON after beforePublish, or the record write or the broker refused it): addTask rejects with `error`. */
      publishFailed: new SyncHook<[TaskMessage, Error]>(['message', 'error']),
      /** A delivery arrived, before it runs: return a reason string to dead-letter it instead. */
      receive: new SyncBailHook<[Delivery], string | undefined>(['delivery']),
    }),
    storage: Object.freeze({
      /** At start: return this app's Storage. First answer wins; none means the in-memory storage. */
      provide: new SyncBailHook<[QueueTasks], Storage | undefined>(['app']),
      /** At start: return this app's GlobalConfig (ping, shared key-value). None means in-memory. */
      provideGlobalConfig: new SyncBailHook<[QueueTasks], GlobalConfig | undefined>(['app']),
      /** Before a record is written (process, retry, outcome): return a replacement record. */
      beforeSave: new SyncWaterfallHook<[TaskRecord]>(['record']),
      /** After `app.get` read a record: return a replacement (QTasks' qtasks_get). */
      afterGet: new SyncWaterfallHook<[TaskRecord]>(['record']),
    }),
    logging: Object.freeze({
      /** A component asks for a logger: return one. None: a child of loggerMain, else a local Logger. */
      provide: new SyncBailHook<[LoggerRequest], LoggerLike | undefined>(['request']),
    }),
    task: Object.freeze({
      /** A task was registered on this app (at `app.task`, `includeRouter`, or adoption at start). */
      registered: new SyncHook<[TaskDefinition]>(['definition']),
      /**
       * Around each attempt (beforeExecute, handler, afterExecute, the retry decision): return a
       * runner that calls `run` once and resolves when it does (to time it, or to run it inside a
       * context). The attempt's own outcome stands whatever the runner returns; a runner that
       * throws or rejects is logged and the attempt runs (or goes on) without it.
       */
      around: new SyncWaterfallHook<[AttemptRunner, TaskContext, Delivery]>(['run', 'ctx', 'delivery']),
      /** Before the handler runs: return replacement arguments (QTasks' args-replace). */
      beforeExecute: new AsyncSeriesWaterfallHook<[readonly unknown[], TaskContext]>(['args', 'ctx']),
      /** After the handler succeeded: return a replacement result. */
      afterExecute: new AsyncSeriesWaterfallHook<[unknown, TaskContext]>(['result', 'ctx']),
      /** A generator task yielded a value (after generateHandler), or the handler called ctx.progress. */
      progress: new SyncHook<[unknown, TaskContext]>(['value', 'ctx']),
      /** The handler failed: return true to retry or false to fail now; undefined leaves it to retry/retryOn. */
      shouldRetry: new SyncBailHook<[Error, TaskContext], boolean | undefined>(['error', 'ctx']),
      /** The delay before the next attempt, ms: return a replacement. */
      retryDelay: new SyncWaterfallHook<[number, TaskContext]>(['delayMs', 'ctx']),
      /** A record was settled (final, retry or dead), as stored. */
      settled: new SyncHook<[TaskRecord]>(['record']),
    }),
  });
}

export type KernelHooks = ReturnType<typeof createHooks>;

/** Every hook with its dotted name (`broker.publish`), for the kernel's interceptors and the docs test. */
export function listHooks(hooks: KernelHooks): Array<[string, { intercept: (i: object) => void; taps: unknown[] }]> {
  const out: Array<[string, { intercept: (i: object) => void; taps: unknown[] }]> = [];
  for (const [group, members] of Object.entries(hooks)) {
    for (const [name, hook] of Object.entries(members as Record<string, { intercept: (i: object) => void; taps: unknown[] }>)) {
      out.push([`${group}.${name}`, hook]);
    }
  }
  return out;
}
