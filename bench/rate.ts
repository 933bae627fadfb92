/**
 * `--rate-limit MAX/PERMS`: how close a rate-limited task gets to its limit. N tasks are enqueued
 * first; workers (--workers, default 3, each an app in this process on the same broker) run them
 * under `rateLimit: { max, perMs }`; the line gives the achieved rate beside the configured one
 * (the starts after the first `max`, which an empty window lets through at once, over the time
 * from the first start to the last; use jobs well above max) and the most starts seen in any
 * window of perMs (the limit holds when it is <= max). A second line puts the same limit on the
 * task's queue (`app.queue`: on Redis the claim script enforces it). With
 * --peers on Redis, BullMQ's limiter does the same (three Workers with `limiter`).
 */
import { QueueTasks } from '../core/app.js';
import { benchTargets } from './brokers.js';

/** The most of `times` (ms) within any window of `ms`. */
export function busiestWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** `on`: the limit is the task's option (`rateLimit`) or its queue's (`app.queue`; on Redis, held by the claim itself). */
export async function benchRate(broker: string, jobs: number, concurrency: number, max: number, perMs: number, workers: number, on: 'task' | 'queue' = 'task'): Promise<Record<string, unknown>> {
  const target = await benchTargets[broker]!();
  const name = `bench-rate-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency, resultTtlMs: 600_000 };
  const starts: number[] = [];
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const apps: QueueTasks[] = [];
  for (let w = 0; w <= workers; w++) {
    const app = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false, sharedTasks: false });
    if (on === 'queue') app.queue('limited', { rateLimit: { max, perMs } });
    app.task(on === 'queue' ? { name: 'limited', queue: 'limited' } : { name: 'limited', rateLimit: { max, perMs } }, (i: number) => {
      starts.push(Date.now());
      return i;
    });
    if (w > 0) {
      app.hooks.task.settled.tap('bench', () => {
        if (++done === jobs) finish();
      });
    }
    apps.push(app);
  }
  const [producer, ...rest] = apps;
  await producer!.start({ worker: false });
  for (let i = 0; i < jobs; i += 1_000) await producer!.addTasks(Array.from({ length: Math.min(1_000, jobs - i) }, (_, j) => ({ name: 'limited', args: [i + j] })));
  const t0 = performance.now();
  await Promise.all(rest.map((a) => a.start()));
  await finished;
  // From the first start to the last: the rate the limiter let through.
  const spanMs = Math.max(1, Math.max(...starts) - Math.min(...starts));
  for (const a of apps) await a.stop();
  await target.cleanup?.(name);
  await target.close?.();
  const limitPerS = (max / perMs) * 1_000;
  // The first `max` start at once (an empty window); the steady rate is what follows them.
  const achieved = ((jobs - max) / spanMs) * 1_000;
  return {
    system: `qtasks-${broker}-rate-limited${on === 'queue' ? '-queue' : ''}`,
    jobs,
    workers,
    limit: `${max}/${perMs}ms`,
    limit_per_s: Math.round(limitPerS * 10) / 10,
    achieved_per_s: Math.round(achieved * 10) / 10,
    of_limit: Math.round((achieved / limitPerS) * 1_000) / 1_000,
    busiest_window: busiestWindow(starts, perMs),
    total_ms: Math.round(performance.now() - t0),
  };
}

/** BullMQ's limiter, the same shape: N jobs added first, three Workers with `limiter: { max, duration }`. */
export const BULLMQ_RATE = `
import { Queue, Worker } from 'bullmq';
const [jobs, concurrency, max, perMs, workers] = process.argv.slice(2).map(Number);
const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const name = 'bench-rate-' + process.pid;
const q = new Queue(name, { connection });
for (let i = 0; i < jobs; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({ name: 't', data: { i: i + j }, opts: { removeOnComplete: true } })));
const starts = [];
let done = 0;
let finish;
const finished = new Promise((r) => (finish = r));
const ws = [];
for (let w = 0; w < workers; w++) {
  const worker = new Worker(name, async (job) => { starts.push(Date.now()); return job.data.i; }, { connection, concurrency, limiter: { max, duration: perMs } });
  worker.on('completed', () => { if (++done === jobs) finish(); });
  ws.push(worker);
}
await finished;
for (const w of ws) await w.close();
await q.obliterate({ force: true });
await q.close();
starts.sort((a, b) => a - b);
let best = 0;
for (let i = 0, j = 0; i < starts.length; i++) { while (starts[i] - starts[j] >= perMs) j++; best = Math.max(best, i - j + 1); }
const span = Math.max(1, starts[starts.length - 1] - starts[0]);
const limit = max / perMs * 1000;
const achieved = (jobs - max) / span * 1000;
console.log(JSON.stringify({ system: 'bullmq-rate-limited', jobs, workers, limit: max + '/' + perMs + 'ms', limit_per_s: Math.round(limit * 10) / 10, achieved_per_s: Math.round(achieved * 10) / 10, of_limit: Math.round(achieved / limit * 1000) / 1000, busiest_window: best }));
process.exit(0);
`;
