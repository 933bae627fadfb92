/**
 * `npm run bench -- --broker memory|redis|rabbitmq --jobs 20000 --concurrency 50 [--payload BYTES]
 *   [--delay MS] [--latency SAMPLES] [--peers] [--bulk [--bulk-size 1000]] [--matrix [--quick] [--only TEXT]]`
 *
 * Throughput (the default): enqueue N no-op tasks (windows of 100 in parallel), then process them
 * with one worker, then time --latency-jobs round trips against the idle worker. --delay delays
 * every task and adds the lateness of each start. --latency SAMPLES measures round trips only,
 * one at a time, like the peer scripts' option. With --peers, the peer scripts in ../shared/bench
 * run in the same invocation, alternating with ours, with the same options.
 * `npm run bench -- --broker redis --jobs 600 --rate-limit 100/1000 [--workers 3] [--peers]` (bench/rate.ts)
 *
 * With --bulk: enqueue N tasks with `addTasks` in calls of --bulk-size (one after the other),
 * then the same with BullMQ's `addBulk` (Redis) in the same invocation, then ours again.
 *
 * With --flow: a fan-out / fan-in of --jobs children (default 10000) under one parent, qtasks beside
 * BullMQ's FlowProducer (Redis) in the same invocation (bench/flow.ts); --no-peers: qtasks only.
 *
 * With --cluster (redis): the headline shape over six queues on a local 3-master Redis Cluster
 * (placement 'queue') beside the single Redis, interleaved, --rounds times (bench/cluster.ts).
 *
 * With --matrix: the whole envelope (bench/matrix.ts), one JSON line per cell and a ratio table;
 * --quick: a handful of tasks per cell and no peers (--quick --peers: with them, to try the peers quickly).
 */
import { benchTargets } from './brokers.js';
import { benchCluster } from './cluster.js';
import { flowLines } from './flow.js';
import { runMatrix, summaryTable } from './matrix.js';
import { benchBulk, benchLatency, benchOnce, round } from './measure.js';
import { runBulkPeers, runPeers, runRatePeer } from './peers.js';
import { BULLMQ_RATE, benchRate } from './rate.js';

interface Args {
  broker: string;
  jobs: number;
  concurrency: number;
  latencyJobs: number;
  payload: number;
  delay: number;
  /** Round trips only (the peers' --latency); 0: throughput. */
  latency: number;
  peers: boolean;
  bulk: boolean;
  bulkSize: number;
  matrix: boolean;
  quick: boolean;
  only: string | undefined;
  /** '--rate-limit MAX/PERMS': the rate-limited mode. */
  rate: { max: number; perMs: number } | undefined;
  workers: number;
  flow: boolean;
  cluster: boolean;
  rounds: number;
  noPeers: boolean;
  jobsGiven: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { broker: 'memory', jobs: 20_000, concurrency: 50, latencyJobs: 1_000, payload: 0, delay: 0, latency: 0, peers: false, bulk: false, bulkSize: 1_000, matrix: false, quick: false, only: undefined, rate: undefined, workers: 3, flow: false, cluster: false, rounds: 2, noPeers: false, jobsGiven: false };
  const numeric: Record<string, 'jobs' | 'concurrency' | 'latencyJobs' | 'payload' | 'delay' | 'latency' | 'bulkSize' | 'workers' | 'rounds'> = {
    '--jobs': 'jobs',
    '--concurrency': 'concurrency',
    '--latency-jobs': 'latencyJobs',
    '--payload': 'payload',
    '--delay': 'delay',
    '--latency': 'latency',
    '--bulk-size': 'bulkSize',
    '--workers': 'workers',
    '--rounds': 'rounds',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const key = numeric[flag];
    if (flag === '--jobs') args.jobsGiven = true;
    if (flag === '--peers') args.peers = true;
    else if (flag === '--flow') args.flow = true;
    else if (flag === '--cluster') args.cluster = true;
    else if (flag === '--no-peers') args.noPeers = true;
    else if (flag === '--bulk') args.bulk = true;
    else if (flag === '--matrix') args.matrix = true;
    else if (flag === '--quick') args.quick = true;
    else if (flag === '--broker' && value !== undefined) (args.broker = value), i++;
    else if (flag === '--only' && value !== undefined) (args.only = value), i++;
    else if (flag === '--rate-limit' && value !== undefined) {
      const [max, perMs] = value.split('/').map(Number);
      if (!(Number.isInteger(max) && max! > 0 && Number.isInteger(perMs) && perMs! > 0)) throw new Error('--rate-limit takes MAX/PERMS, for example 100/1000');
      args.rate = { max: max!, perMs: perMs! };
      i++;
    } else if (key !== undefined && value !== undefined) (args[key] = Number(value)), i++;
    else throw new Error(`unknown or incomplete argument ${flag}`);
  }
  if (!(args.broker in benchTargets)) throw new Error(`--broker must be one of ${Object.keys(benchTargets).join(', ')}`);
  if (!(args.bulkSize > 0) || args.bulkSize > 100_000) throw new Error('--bulk-size must be between 1 and 100000');
  if (!(args.jobs > 0) || !(args.concurrency > 0)) throw new Error('--jobs and --concurrency must be positive numbers');
  for (const k of ['latencyJobs', 'payload', 'delay', 'latency'] as const) if (!(args[k] >= 0)) throw new Error(`--${k.replace('Jobs', '-jobs')} must be a number >= 0`);
  if (args.cluster && args.broker !== 'redis') throw new Error('--cluster goes with --broker redis');
  if (!(Number.isInteger(args.rounds) && args.rounds > 0)) throw new Error('--rounds must be a positive integer');
  if ((args.quick || args.only !== undefined) && !args.matrix) throw new Error('--quick and --only go with --matrix');
  return args;
}

/** The options the peer scripts take, as given to us. */
function peerExtra(args: Args): string[] {
  const out: string[] = [];
  if (args.payload > 0) out.push('--payload', String(args.payload));
  if (args.delay > 0) out.push('--delay', String(args.delay));
  if (args.latency > 0) out.push('--latency', String(args.latency));
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.matrix) {
    const cells = await runMatrix({ quick: args.quick, peers: !args.quick || args.peers, ...(args.only !== undefined ? { only: args.only } : {}), onCell: (cell) => console.log(JSON.stringify(cell)) });
    console.log(`\n${summaryTable(cells)}`);
    return;
  }
  if (args.cluster) {
    await benchCluster(args.jobs, args.concurrency, args.rounds, (line) => console.log(JSON.stringify(line)));
    return;
  }
  if (args.flow) {
    await flowLines(args.broker, args.jobsGiven ? args.jobs : 10_000, args.concurrency, !args.noPeers, (line) => console.log(JSON.stringify(line)));
    return;
  }
  if (args.rate !== undefined) {
    const { max, perMs } = args.rate;
    console.log(JSON.stringify(await benchRate(args.broker, args.jobs, args.concurrency, max, perMs, args.workers)));
    console.log(JSON.stringify(await benchRate(args.broker, args.jobs, args.concurrency, max, perMs, args.workers, 'queue')));
    if (args.peers && args.broker === 'redis') console.log(JSON.stringify(await runRatePeer(BULLMQ_RATE, args.jobs, args.concurrency, max, perMs, args.workers)));
    return;
  }
  if (args.bulk) {
    const ours = await benchBulk(args.broker, args.jobs, args.bulkSize);
    console.log(JSON.stringify(ours));
    const peers = await runBulkPeers(args.broker, args.jobs, args.bulkSize);
    for (const line of peers) console.log(JSON.stringify(line));
    const again = await benchBulk(args.broker, args.jobs, args.bulkSize);
    console.log(JSON.stringify(again));
    const best = Math.max(ours.bulk_enqueue_per_s as number, again.bulk_enqueue_per_s as number);
    const ratios = Object.fromEntries(peers.map((p) => [`vs_${String(p.system)}`, round(best / Number(p.bulk_enqueue_per_s), 2)]));
    console.log(JSON.stringify({ ...again, previous_run: ours, ...ratios }));
    return;
  }
  const once = (): Promise<Record<string, unknown>> =>
    args.latency > 0 ? benchLatency(args.broker, args.latency, args.concurrency, args.payload) : benchOnce({ ...args, latencyJobs: args.delay > 0 ? 0 : args.latencyJobs });
  const ours = await once();
  if (args.peers) {
    console.log(JSON.stringify(ours));
    // The peers take (jobs, concurrency); in latency mode jobs is unused.
    for (const line of await runPeers(args.broker, args.latency > 0 ? 0 : args.jobs, args.concurrency, peerExtra(args))) console.log(JSON.stringify(line));
    // Alternate: ours again after the peers, so drift shows up in both.
    const again = await once();
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
