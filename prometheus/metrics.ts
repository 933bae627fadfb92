/**
 * The metric families of `qtasks/prometheus`, created once per plugin on its registry. Names follow
 * the Prometheus conventions: a `qtasks_` prefix, base units (`_seconds`), `_total` on counters.
 * Labels are low-cardinality on purpose: app, queue, task name, status; never ids or arguments.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ErrorCodes, QTasksError } from '../core/errors.js';

/** Seconds, from a few milliseconds to an hour: tasks run far longer than web requests. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

type TaskLabels = 'app' | 'queue' | 'task';

export interface Families {
  readonly completed: Counter<TaskLabels>;
  readonly failed: Counter<TaskLabels>;
  readonly retried: Counter<TaskLabels>;
  readonly dead: Counter<TaskLabels>;
  readonly cancelled: Counter<TaskLabels>;
  readonly runSeconds: Histogram<TaskLabels>;
  readonly waitSeconds: Histogram<TaskLabels>;
  readonly running: Gauge<TaskLabels>;
  readonly queueTasks: Gauge<'app' | 'queue' | 'status'>;
  readonly queuePaused: Gauge<'app' | 'queue'>;
}

export interface FamilyOptions {
  readonly registry: Registry;
  readonly prefix: string;
  readonly runBuckets: readonly number[];
  readonly waitBuckets: readonly number[];
  /** Fills the two queue gauges at scrape (prom-client calls it from each gauge's collect). */
  readonly collectQueues: (tasks: Gauge<'app' | 'queue' | 'status'>, paused: Gauge<'app' | 'queue'>) => Promise<void>;
}

export function createFamilies(options: FamilyOptions): Families {
  const { registry, prefix } = options;
  const labelNames: TaskLabels[] = ['app', 'queue', 'task'];
  const registers = [registry];
  const counter = (name: string, help: string): Counter<TaskLabels> => new Counter({ name: prefix + name, help, labelNames, registers });
  const histogram = (name: string, help: string, buckets: readonly number[]): Histogram<TaskLabels> =>
    new Histogram({ name: prefix + name, help, labelNames, buckets: [...buckets], registers });
  try {
    // Each queue gauge asks for the same snapshot: the plugin shares one counts() call per scrape.
    let queuePaused: Gauge<'app' | 'queue'> | undefined;
    const queueTasks: Gauge<'app' | 'queue' | 'status'> = new Gauge({
      name: prefix + 'queue_tasks',
      help: 'Tasks per queue and status (waiting, delayed, running, retrying, dead, success, error, cancel), from the broker at scrape time',
      labelNames: ['app', 'queue', 'status'],
      registers,
      collect: () => options.collectQueues(queueTasks, queuePaused!),
    });
    queuePaused = new Gauge({
      name: prefix + 'queue_paused',
      help: '1 if the queue is paused (app.pause), else 0, from the broker at scrape time',
      labelNames: ['app', 'queue'],
      registers,
      collect: () => options.collectQueues(queueTasks, queuePaused!),
    });
    return {
      completed: counter('tasks_completed_total', 'Tasks that ended in success'),
      failed: counter('tasks_failed_total', 'Tasks that ended in error (no attempt left, or not retried)'),
      retried: counter('tasks_retried_total', 'Failed attempts that were scheduled again'),
      dead: counter('tasks_dead_total', 'Tasks moved to the dead letters'),
      cancelled: counter('tasks_cancelled_total', 'Tasks cancelled while a worker of this process held them'),
      runSeconds: histogram('task_run_duration_seconds', 'Duration of each attempt, from the start of its run to its outcome', options.runBuckets),
      waitSeconds: histogram('task_wait_duration_seconds', 'Time from addTask to the start of the first attempt (a delay asked at addTask included)', options.waitBuckets),
      running: new Gauge({ name: prefix + 'tasks_running', help: 'Attempts running in this process now', labelNames, registers }),
      queueTasks,
      queuePaused,
    };
  } catch (err) {
    throw new QTasksError(
      ErrorCodes.INVALID_OPTION,
      `prometheus: cannot register the qtasks metrics: ${(err as Error).message}; use one prometheus() plugin per registry (give it to every app) or another prefix`,
      { cause: err },
    );
  }
}
