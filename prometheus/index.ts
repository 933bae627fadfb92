/**
 * `qtasks/prometheus`: metrics of tasks and queues on prom-client (an optional peer, loaded only
 * by this entry point). Counters and histograms come from the kernel's hooks in the process that
 * runs the tasks; the queue gauges are read from the broker (`app.counts()`) when Prometheus
 * scrapes, cached briefly and bounded in time so a slow broker cannot hang `/metrics`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { register as defaultRegistry, type Gauge, type Registry } from 'prom-client';
import type { QueueTasks } from '../core/app.js';
import type { QueueCounts } from '../core/contracts.js';
import { ErrorCodes, QTasksError, messageOf } from '../core/errors.js';
import type { Plugin } from '../core/plugin.js';
import { TaskStatus } from '../core/record.js';
import { DEFAULT_BUCKETS, createFamilies, type Families } from './metrics.js';

export { DEFAULT_BUCKETS } from './metrics.js';

export interface PrometheusOptions {
  /** Where the metrics are registered (default: prom-client's global `register`). */
  registry?: Registry;
  /** Prefix of every metric name (default `qtasks_`). */
  prefix?: string;
  /** Buckets of `qtasks_task_run_duration_seconds`, in seconds (default DEFAULT_BUCKETS: 5 ms to 1 h). */
  runBuckets?: readonly number[];
  /** Buckets of `qtasks_task_wait_duration_seconds`, in seconds (default DEFAULT_BUCKETS). */
  waitBuckets?: readonly number[];
  /** A scrape reuses queue counts younger than this, ms (default 1000). */
  countsCacheMs?: number;
  /** A scrape waits at most this long for queue counts, ms (default 2000); then the queue gauges are left out. */
  countsTimeoutMs?: number;
}

export interface PrometheusPlugin extends Plugin {
  readonly registry: Registry;
  /** The registry's text exposition (what `/metrics` answers). */
  metrics(): Promise<string>;
  /**
   * A node:http request handler answering GET (and HEAD) with the metrics; mount it at
   * `/metrics` under node:http, Express or Fastify (docs/observability.md).
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
}

class CountsTimeout extends Error {
  constructor(ms: number) {
    super(`counts took longer than ${ms} ms`);
  }
}

const STATUS_COLUMNS = ['waiting', 'delayed', 'running', 'retrying', 'dead', 'success', 'error', 'cancel'] as const;

function checkBuckets(what: string, buckets: unknown): readonly number[] {
  if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b, i) => typeof b !== 'number' || !(b > 0) || !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] as number)))) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `prometheus: ${what} must be increasing positive numbers of seconds, got ${JSON.stringify(buckets)}`);
  }
  return buckets as readonly number[];
}

function checkMs(what: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new QTasksError(ErrorCodes.INVALID_OPTION, `prometheus: ${what} must be a number of ms >= 0, got ${String(value)}`);
  return value;
}

/** Prometheus metrics for the apps this plugin is given to (one plugin may serve several apps). */
export function prometheus(options: PrometheusOptions = {}): PrometheusPlugin {
  const registry = options.registry ?? defaultRegistry;
  const prefix = options.prefix ?? 'qtasks_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `prometheus: prefix must be a valid metric name start, got ${JSON.stringify(prefix)}`);
  }
  const runBuckets = checkBuckets('runBuckets', options.runBuckets ?? DEFAULT_BUCKETS);
  const waitBuckets = checkBuckets('waitBuckets', options.waitBuckets ?? DEFAULT_BUCKETS);
  const cacheMs = checkMs('countsCacheMs', options.countsCacheMs, 1_000);
  const timeoutMs = checkMs('countsTimeoutMs', options.countsTimeoutMs, 2_000);
  const apps = new Set<QueueTasks>();
  /** Kinds of failure already logged per app: a broken broker is said once, not every scrape. */
  const told = new WeakMap<QueueTasks, Set<string>>();
  let snapshot: { at: number; counts: Promise<Array<[QueueTasks, QueueCounts[] | undefined]>> } | undefined;

  const countsOf = async (app: QueueTasks): Promise<QueueCounts[] | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CountsTimeout(timeoutMs)), timeoutMs);
      });
      return await Promise.race([app.counts(), late]);
    } catch (err) {
      const kind = err instanceof QTasksError ? err.code : err instanceof CountsTimeout ? 'timeout' : 'error';
      const seen = told.get(app) ?? new Set<string>();
      told.set(app, seen);
      if (!seen.has(kind)) {
        seen.add(kind);
        app.logger('Prometheus').warn({ err }, `queue gauges left out: ${messageOf(err)}`);
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  const collectQueues = async (tasks: Gauge<'app' | 'queue' | 'status'>, paused: Gauge<'app' | 'queue'>): Promise<void> => {
    const now = Date.now();
    if (snapshot === undefined || now - snapshot.at >= cacheMs) {
      const started = [...apps].filter((a) => a.state === 'started');
      snapshot = { at: now, counts: Promise.all(started.map(async (a): Promise<[QueueTasks, QueueCounts[] | undefined]> => [a, await countsOf(a)])) };
    }
    const all = await snapshot.counts;
    tasks.reset();
    paused.reset();
    for (const [app, counts] of all) {
      for (const c of counts ?? []) {
        for (const status of STATUS_COLUMNS) tasks.set({ app: app.name, queue: c.queue, status }, c[status]);
        paused.set({ app: app.name, queue: c.queue }, c.paused ? 1 : 0);
      }
    }
  };

  const families: Families = createFamilies({ registry, prefix, runBuckets, waitBuckets, collectQueues });

  const plugin: PrometheusPlugin = {
    name: 'prometheus',
    registry,
    metrics: () => registry.metrics(),
    handler: (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      registry.metrics().then(
        (text) => void res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => void res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${messageOf(err)}\n`),
      );
    },
    apply(app) {
      apps.add(app);
      app.hooks.task.settled.tap('prometheus', (record) => {
        const labels = { app: app.name, queue: record.queue, task: record.name };
        switch (record.status) {
          case TaskStatus.SUCCESS:
            return void families.completed.inc(labels);
          case TaskStatus.ERROR:
            return void families.failed.inc(labels);
          case TaskStatus.RETRY:
            return void families.retried.inc(labels);
          case TaskStatus.DEAD:
            return void families.dead.inc(labels);
          case TaskStatus.CANCEL:
            return void families.cancelled.inc(labels);
        }
      });
      app.hooks.task.around.tap('prometheus', (run, ctx, delivery) => async () => {
        const labels = { app: app.name, queue: ctx.queue, task: ctx.name };
        // Only the first attempt waited in the queue since addTask; later ones waited for a retry delay.
        if (ctx.attempt === 1) families.waitSeconds.observe(labels, Math.max(0, Date.now() - delivery.message.createdAt) / 1_000);
        families.running.inc(labels);
        const started = performance.now();
        try {
          return await run();
        } finally {
          families.running.dec(labels);
          families.runSeconds.observe(labels, (performance.now() - started) / 1_000);
        }
      });
    },
  };
  return plugin;
}
