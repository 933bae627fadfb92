/**
 * `--flow`: a fan-out / fan-in of N children (a parent that runs once all its N children ended),
 * qtasks (`app.flow`) beside BullMQ's FlowProducer on the same shape, in the same invocation:
 * ours, BullMQ, ours again. One worker (an app in this process, or a BullMQ Worker in the peer's)
 * with --concurrency runs the children and then the parent, which counts its children's results.
 * Each line: submit time (the whole tree sent), total time from the start of the submit to the
 * parent's end, and children per second over that total.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueueTasks } from '../core/app.js';
import { benchTargets } from './brokers.js';
import { round } from './measure.js';
import { runPeerScript } from './peers.js';

export async function benchFlow(broker: string, jobs: number, concurrency: number): Promise<Record<string, unknown>> {
  const target = await benchTargets[broker]!();
  const name = `bench-flow-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency, resultTtlMs: 600_000 };
  const producer = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false, sharedTasks: false });
  const worker = new QueueTasks({ name, plugins: target.plugins(name), config, globals: false, sharedTasks: false });
  const define = (app: QueueTasks): { child: { name: string; options: object }; parent: { name: string; options: object } } => ({
    child: app.task('child', (i: number) => i),
    parent: app.task({ name: 'parent', echo: true }, (ctx) => ctx.childResults().length),
  });
  const { child, parent } = define(producer);
  define(worker);
  await producer.start({ worker: false });
  await worker.start();
  const t0 = performance.now();
  const root = await producer.flow({ task: parent, children: Array.from({ length: jobs }, (_, i) => ({ task: child, args: [i] })) });
  const submitMs = performance.now() - t0;
  const done = await producer.wait(root.id, 600_000);
  const totalMs = performance.now() - t0;
  if (done.returning !== jobs) throw new Error(`flow bench: the parent saw ${String(done.returning)} children, expected ${jobs}`);
  await worker.stop();
  await producer.stop();
  await target.cleanup?.(name);
  await target.close?.();
  return { system: `qtasks-${broker}`, mode: 'flow', children: jobs, concurrency, submit_ms: round(submitMs, 1), total_ms: round(totalMs, 1), children_per_s: Math.round((jobs / totalMs) * 1000) };
}

/** BullMQ's FlowProducer on the same shape; written into the peers' scratch copy (bench/peers.ts), which has BullMQ installed. */
const BULLMQ_FLOW = `
import { FlowProducer, Worker, QueueEvents } from 'bullmq';
const [jobs, concurrency] = [Number(process.argv[2]), Number(process.argv[3])];
const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const queueName = 'bench-flow-' + process.pid;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const worker = new Worker(queueName, async (job) => {
  if (job.name === 'child') return job.data.i;
  const n = Object.keys(await job.getChildrenValues()).length;
  finish(n);
  return n;
}, { connection, concurrency });
await worker.waitUntilReady();
const flow = new FlowProducer({ connection });
const t0 = performance.now();
await flow.add({ name: 'parent', queueName, data: {}, children: Array.from({ length: jobs }, (_, i) => ({ name: 'child', queueName, data: { i } })) });
const submitMs = performance.now() - t0;
const seen = await finished;
const totalMs = performance.now() - t0;
if (seen !== jobs) throw new Error('bullmq flow: the parent saw ' + seen + ' children');
await worker.close();
await flow.close();
const { Queue } = await import('bullmq');
const q = new Queue(queueName, { connection });
await q.obliterate({ force: true });
await q.close();
console.log(JSON.stringify({ system: 'bullmq-flow', mode: 'flow', children: jobs, concurrency, submit_ms: Math.round(submitMs * 10) / 10, total_ms: Math.round(totalMs * 10) / 10, children_per_s: Math.round(jobs / totalMs * 1000) }));
process.exit(0);
`;

const here = dirname(fileURLToPath(import.meta.url));
// The repo root: bench/ runs from dist/bench (npm run bench) or from source (tsx); the scratch copy is peers.ts's.
const root = basename(resolve(here, '..')) === 'dist' ? resolve(here, '..', '..') : resolve(here, '..');

/** BullMQ's FlowProducer, one JSON line (Redis only). */
export function runFlowPeer(jobs: number, concurrency: number): Record<string, unknown> {
  const scratch = join(root, '.bench-tmp');
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, 'bullmq-flow.mjs'), BULLMQ_FLOW);
  return runPeerScript('bullmq-flow.mjs', [String(jobs), String(concurrency)]);
}

/** `--flow`: ours, BullMQ's FlowProducer (Redis, unless `peers` is false), ours again; then the ratio line. */
export async function flowLines(broker: string, jobs: number, concurrency: number, peers: boolean, print: (line: Record<string, unknown>) => void): Promise<void> {
  const ours = await benchFlow(broker, jobs, concurrency);
  print(ours);
  if (!peers || broker !== 'redis') return;
  const peer = runFlowPeer(jobs, concurrency);
  print(peer);
  const again = await benchFlow(broker, jobs, concurrency);
  print(again);
  const best = Math.max(Number(ours.children_per_s), Number(again.children_per_s));
  print({ ...again, previous_run: ours, vs_bullmq_flow: round(best / Number(peer.children_per_s), 2) });
}
