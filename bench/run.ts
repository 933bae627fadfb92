/**
 * `npm run bench -- --broker memory|redis|rabbitmq --jobs 20000 --concurrency 50 [--payload BYTES] [--peers] [--bulk [--bulk-size 1000]]`
 * `npm run bench -- --broker redis --jobs 600 --rate-limit 100/1000 [--workers 3] [--peers]` (bench/rate.ts)
 *
 * With --bulk: enqueue N tasks with `addTasks` in calls of --bulk-size (one after the other),
 * then the same with BullMQ's `addBulk` (Redis) in the same invocation, then ours again.
 *
 * Three phases, like the peer scripts in ../shared/bench: enqueue N no-op tasks (windows of 100
 * in parallel), then process them with one worker, then measure round-trip latency (enqueue to
 * final record) one task at a time against an idle worker. With --peers, the peer scripts run in
 * the same invocation, alternating with ours. The last line is one JSON object.
 */
import { QueueTasks } from '../core/app.js';
import { benchTargets } from './brokers.js';
import { runBulkPeers, runPeers, runRatePeer } from './peers.js';
import { BULLMQ_RATE, benchRate } from './rate.js';

interface Args {
  broker: string;
  jobs: number;
  concurrency: number;
  latencyJobs: number;
  /** Each task carries a string of this many bytes besides its index, as the peers' --payload. */
  payload: number;
  peers: boolean;
  bulk: boolean;
  bulkSize: number;
  /** '--rate-limit MAX/PERMS': the rate-limited mode. */
  rate: { max: number; perMs: number } | undefined;
  workers: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { broker: 'memory', jobs: 20_000, concurrency: 50, latencyJobs: 1_000, payload: 0, peers: false, bulk: false, bulkSize: 1_000, rate: undefined, workers: 3 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--peers') args.peers = true;
    else if (flag === '--bulk') args.bulk = true;
    else if (flag === '--bulk-size' && value !== undefined) (args.bulkSize = Number(value)), i++;
    else if (flag === '--broker' && value !== undefined) (args.broker = value), i++;
    else if (flag === '--jobs' && value !== undefined) (args.jobs = Number(value)), i++;
    else if (flag === '--concurrency' && value !== undefined) (args.concurrency = Number(value)), i++;
    else if (flag === '--latency-jobs' && value !== undefined) (args.latencyJobs = Number(value)), i++;
    else if (flag === '--payload' && value !== undefined) (args.payload = Number(value)), i++;
    else if (flag === '--workers' && value !== undefined) (args.workers = Number(value)), i++;
    else if (flag === '--rate-limit' && value !== undefined) {
      const [max, perMs] = value.split('/').map(Number);
      if (!(Number.isInteger(max) && max! > 0 && Number.isInteger(perMs) && perMs! > 0)) throw new Error('--rate-limit takes MAX/PERMS, for example 100/1000');
      args.rate = { max: max!, perMs: perMs! };
      i++;
    }
    else throw new Error(`unknown or incomplete argument ${flag ?? ''}`);
  }
  if (!(args.broker in benchTargets)) throw new Error(`--broker must be one of ${Object.keys(benchTargets).join(', ')}`);
  if (!(args.bulkSize > 0) || args.bulkSize > 100_000) throw new Error('--bulk-size must be between 1 and 100000');
  if (!(args.jobs > 0) || !(args.concurrency > 0) || !(args.latencyJobs >= 0) || !(args.payload >= 0)) throw new Error('--jobs, --concurrency, --latency-jobs, --payload must be positive numbers');
  return args;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function benchOnce(args: Args): Promise<Record<string, unknown>> {
  const target = await benchTargets[args.broker]!();
  const name = `bench-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency: args.concurrency, resultTtlMs: 600_000 };
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  const before = (await target.counters?.()) ?? {};

  const blob = args.payload > 0 ? 'x'.repeat(args.payload) : undefined;
  const argsOf = (n: number): unknown[] => (blob === undefined ? [n] : [n, blob]);
  let t0 = performance.now();
  for (let i = 0; i < args.jobs; i += 100) {
    const window: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(args.jobs, i + 100); j++) window.push(producer.addTask('noop', argsOf(j)));
    await Promise.all(window);
  }
  const enqueueMs = performance.now() - t0;

  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false });
  worker.task('noop', (i: number) => i);
  worker.hooks.task.settled.tap('bench', () => {
    if (++done === args.jobs) finish();
  });
  t0 = performance.now();
  await worker.start();
  await finished;
  const processMs = performance.now() - t0;
  const after = (await target.counters?.()) ?? {};

  // Latency against an idle worker: one task at a time, enqueue to final record.
  const lat: number[] = [];
  for (let i = 0; i < args.latencyJobs; i++) {
    const s = performance.now();
    await producer.addTask('noop', [i], { timeout: 10_000 });
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);

  await worker.stop();
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();

  const perTask: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) perTask[`${key}_per_task`] = round((value - (before[key] ?? 0)) / args.jobs, 2);
  return {
    system: `qtasks-${args.broker}`,
    broker: args.broker,
    jobs: args.jobs,
    concurrency: args.concurrency,
    ...(args.payload > 0 ? { payload_bytes: args.payload } : {}),
    enqueue_per_s: Math.round((args.jobs / enqueueMs) * 1000),
    process_per_s: Math.round((args.jobs / processMs) * 1000),
    p50_ms: round(percentile(lat, 50), 3),
    p99_ms: round(percentile(lat, 99), 3),
    ...perTask,
  };
}

/** Bulk enqueue only: N tasks through `addTasks`, --bulk-size per call, one call after the other. */
async function benchBulk(args: Args): Promise<Record<string, unknown>> {
  const target = await benchTargets[args.broker]!();
  const name = `bench-bulk-${process.pid}-${Date.now()}`;
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config: { logLevel: 'warn', resultTtlMs: 600_000 }, globals: false });
  const noop = producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  // One untimed call first (script load, JIT), as the peer does.
  await noop.addTasks(Array.from({ length: args.bulkSize }, (_, j): [number] => [j]));
  const t0 = performance.now();
  for (let i = 0; i < args.jobs; i += args.bulkSize) {
    const calls: Array<[number]> = [];
    for (let j = i; j < Math.min(args.jobs, i + args.bulkSize); j++) calls.push([j]);
    await noop.addTasks(calls);
  }
  const ms = performance.now() - t0;
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();
  return { system: `qtasks-${args.broker}`, broker: args.broker, jobs: args.jobs, bulk_size: args.bulkSize, bulk_enqueue_per_s: Math.round((args.jobs / ms) * 1000) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.rate !== undefined) {
    const { max, perMs } = args.rate;
    console.log(JSON.stringify(await benchRate(args.broker, args.jobs, args.concurrency, max, perMs, args.workers)));
    if (args.peers && args.broker === 'redis') console.log(JSON.stringify(await runRatePeer(BULLMQ_RATE, args.jobs, args.concurrency, max, perMs, args.workers)));
    return;
  }
  if (args.bulk) {
    const ours = await benchBulk(args);
    console.log(JSON.stringify(ours));
    const peers = await runBulkPeers(args.broker, args.jobs, args.bulkSize);
    for (const line of peers) console.log(JSON.stringify(line));
    const again = await benchBulk(args);
    console.log(JSON.stringify(again));
    const best = Math.max(ours.bulk_enqueue_per_s as number, again.bulk_enqueue_per_s as number);
    const ratios = Object.fromEntries(peers.map((p) => [`vs_${String(p.system)}`, round(best / Number(p.bulk_enqueue_per_s), 2)]));
    console.log(JSON.stringify({ ...again, previous_run: ours, ...ratios }));
    return;
  }
  const ours = await benchOnce(args);
  if (args.peers) {
    console.log(JSON.stringify(ours));
    for (const line of await runPeers(args.broker, args.jobs, args.concurrency, args.payload > 0 ? ['--payload', String(args.payload)] : [])) console.log(JSON.stringify(line));
    // Alternate: ours again after the peers, so drift shows up in both.
    const again = await benchOnce(args);
    console.log(JSON.stringify(again));
    console.log(JSON.stringify({ ...again, previous_run: ours }));
    return;
  }
  console.log(JSON.stringify(ours));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
