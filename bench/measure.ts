/**
 * One qtasks measurement each, the shapes of the peer scripts in ../shared/bench: throughput
 * (enqueue, then process; with a delay, the lateness of each start), idle round trips, bulk
 * enqueue, and Redis memory per queued task. Each returns one JSON-able line.
 */
import { QueueTasks } from '../core/app.js';
import { benchTargets } from './brokers.js';

export interface RunShape {
  broker: string;
  jobs: number;
  concurrency: number;
  /** Each task carries a string of this many bytes besides its index and enqueue time, as the peers' --payload. */
  payload: number;
  /** Every task delayed by this many ms (0: none); the line adds lateness percentiles. */
  delay: number;
  /** Round trips timed after the throughput phases (0: none). */
  latencyJobs: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;

const blobOf = (payload: number): string | undefined => (payload > 0 ? 'x'.repeat(payload) : undefined);

function shapeOf(s: Pick<RunShape, 'broker' | 'jobs' | 'concurrency' | 'payload' | 'delay'>): Record<string, unknown> {
  return {
    system: `qtasks-${s.broker}`,
    broker: s.broker,
    jobs: s.jobs,
    concurrency: s.concurrency,
    ...(s.payload > 0 ? { payload_bytes: s.payload } : {}),
    ...(s.delay > 0 ? { delay_ms: s.delay } : {}),
  };
}

/** Enqueue N tasks (windows of 100 in parallel), then process them with one worker. */
export async function benchOnce(args: RunShape): Promise<Record<string, unknown>> {
  const target = await benchTargets[args.broker]!();
  const name = `bench-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency: args.concurrency, resultTtlMs: 600_000 };
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  const before = (await target.counters?.()) ?? {};

  // [index, enqueue time, blob?]: the peers' job data ({ i, at, blob? }).
  const blob = blobOf(args.payload);
  const options = args.delay > 0 ? { delay: args.delay } : {};
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < args.jobs; i += 100) {
    const window: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(args.jobs, i + 100); j++) window.push(producer.addTask('noop', blob === undefined ? [j, Date.now()] : [j, Date.now(), blob], options));
    await Promise.all(window);
  }
  const enqueueMs = performance.now() - t0;
  const enqueueCpu = process.cpuUsage(cpu0);
  const enqueued = (await target.counters?.()) ?? {};

  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const late: number[] = [];
  const worker = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  worker.task('noop', (i: number, at: number) => {
    // Start minus due time, as the peers compute it (both clocks are this host's).
    if (args.delay > 0) late.push(Date.now() - (at + args.delay));
    return i;
  });
  worker.hooks.task.settled.tap('bench', () => {
    if (++done === args.jobs) finish();
  });
  t0 = performance.now();
  cpu0 = process.cpuUsage();
  // Connected: the clock of a peer that connects before timing (raw amqplib) starts here.
  if (target.clockAfterConnect === true) worker.hooks.lifecycle.start.tap('bench', () => void ((t0 = performance.now()), (cpu0 = process.cpuUsage())));
  await worker.start();
  await finished;
  const processMs = performance.now() - t0;
  const processCpu = process.cpuUsage(cpu0);
  const after = (await target.counters?.()) ?? {};

  // Latency against an idle worker: one task at a time, enqueue to final record.
  const lat: number[] = [];
  for (let i = 0; i < args.latencyJobs; i++) {
    const s = performance.now();
    await producer.addTask('noop', [i, Date.now()], { timeout: 10_000 });
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  late.sort((a, b) => a - b);

  await worker.stop();
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();

  const perTask: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) perTask[`${key}_per_task`] = round((value - (before[key] ?? 0)) / args.jobs, 2);
  // The same split by phase: where the server's time goes, adding or running.
  if (enqueued.redis_usec !== undefined && after.redis_usec !== undefined) {
    perTask.redis_usec_per_enqueue = round((enqueued.redis_usec - (before.redis_usec ?? 0)) / args.jobs, 2);
    perTask.redis_usec_per_run = round((after.redis_usec - enqueued.redis_usec) / args.jobs, 2);
  }
  return {
    ...shapeOf(args),
    enqueue_per_s: Math.round((args.jobs / enqueueMs) * 1000),
    process_per_s: Math.round((args.jobs / processMs) * 1000),
    // Node CPU (user + system, every thread of this process) per task of each phase.
    enqueue_cpu_us: Math.round((enqueueCpu.user + enqueueCpu.system) / args.jobs),
    process_cpu_us: Math.round((processCpu.user + processCpu.system) / args.jobs),
    ...(args.delay > 0 ? { lateness_p50_ms: percentile(late, 50), lateness_p99_ms: percentile(late, 99), lateness_max_ms: late.at(-1) ?? 0 } : {}),
    ...(args.latencyJobs > 0 ? { p50_ms: round(percentile(lat, 50), 3), p99_ms: round(percentile(lat, 99), 3) } : {}),
    ...perTask,
  };
}

/** `samples` round trips one at a time against an idle worker (after 50 untimed, as the peers): add, wait for the result. */
export async function benchLatency(broker: string, samples: number, concurrency: number, payload = 0): Promise<Record<string, unknown>> {
  const target = await benchTargets[broker]!();
  const name = `bench-lat-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency, resultTtlMs: 600_000 };
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  const worker = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  worker.task('noop', (i: number) => i);
  await worker.start();
  const blob = blobOf(payload);
  const lat: number[] = [];
  for (let i = 0; i < 50 + samples; i++) {
    const s = performance.now();
    await producer.addTask('noop', blob === undefined ? [i, Date.now()] : [i, Date.now(), blob], { timeout: 10_000 });
    if (i >= 50) lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  await worker.stop();
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();
  return { ...shapeOf({ broker, jobs: 0, concurrency, payload, delay: 0 }), samples, p50_ms: round(percentile(lat, 50), 3), p99_ms: round(percentile(lat, 99), 3) };
}

/** Bulk enqueue only: N tasks through `addTasks`, `size` per call, one call after the other. */
export async function benchBulk(broker: string, jobs: number, size: number): Promise<Record<string, unknown>> {
  const target = await benchTargets[broker]!();
  const name = `bench-bulk-${process.pid}-${Date.now()}`;
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config: { logLevel: 'warn', resultTtlMs: 600_000 }, globals: false });
  const noop = producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  // One untimed call first (script load, JIT), as the peer does.
  await noop.addTasks(Array.from({ length: size }, (_, j): [number] => [j]));
  const t0 = performance.now();
  for (let i = 0; i < jobs; i += size) {
    const calls: Array<[number]> = [];
    for (let j = i; j < Math.min(jobs, i + size); j++) calls.push([j]);
    await noop.addTasks(calls);
  }
  const ms = performance.now() - t0;
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();
  return { system: `qtasks-${broker}`, broker, jobs, bulk_size: size, bulk_enqueue_per_s: Math.round((jobs / ms) * 1000) };
}

/**
 * Redis memory per queued task: N tasks enqueued with no worker, then the app's keys summed with
 * MEMORY USAGE (exact, and blind to other clients of a shared server) and INFO's used_memory
 * before and after (what the server grew by, noisy when others write meanwhile).
 */
export async function benchMemory(jobs: number, payload: number): Promise<Record<string, unknown>> {
  const target = await benchTargets.redis!();
  const name = `bench-mem-${process.pid}-${Date.now()}`;
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config: { logLevel: 'warn' }, globals: false });
  producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  const blob = blobOf(payload);
  const before = await target.usedMemory!();
  for (let i = 0; i < jobs; i += 100) {
    const window: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(jobs, i + 100); j++) window.push(producer.addTask('noop', blob === undefined ? [j, Date.now()] : [j, Date.now(), blob]));
    await Promise.all(window);
  }
  const after = await target.usedMemory!();
  const keyBytes = await target.keyBytes!(name);
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();
  return { system: 'qtasks-redis', broker: 'redis', jobs, payload_bytes: payload, key_bytes_per_task: Math.round(keyBytes / jobs), info_bytes_per_task: Math.round((after - before) / jobs) };
}
