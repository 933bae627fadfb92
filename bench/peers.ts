/**
 * Runs the peer scripts from ../shared/bench (BullMQ, bee-queue, raw amqplib) in a scratch copy,
 * installing their dependencies there: shared/ is read-only, and the peers must not become our
 * dependencies. Each script prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench -> repo root -> ../shared/bench
// (from a worktree in /work/wt/<name>, two levels up); QTASKS_BENCH_SHARED overrides.
const shared =
  process.env.QTASKS_BENCH_SHARED ??
  [resolve(here, '..', '..', '..', 'shared', 'bench'), resolve(here, '..', '..', '..', '..', 'shared', 'bench')].find((p) => existsSync(p)) ??
  resolve(here, '..', '..', '..', 'shared', 'bench');
const scratch = resolve(here, '..', '..', '.bench-tmp');

const PEERS: Record<string, string[]> = {
  memory: [],
  redis: ['bullmq.mjs', 'beequeue.mjs'],
  rabbitmq: ['amqp.mjs'],
};

function prepareScratch(): void {
  if (!existsSync(shared)) throw new Error(`peer scripts not found at ${shared}`);
  if (!existsSync(join(scratch, 'node_modules'))) {
    mkdirSync(scratch, { recursive: true });
    cpSync(shared, scratch, { recursive: true });
    execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund'], { cwd: scratch, stdio: 'inherit' });
  }
}

/**
 * The bulk peer: shared/bench has no bulk mode (and shared/ is read-only), so this script is
 * written into the scratch copy, beside the peers whose dependencies it uses. BullMQ's addBulk,
 * `size` jobs per call, one call after the other: the same shape as `addTasks` in run.ts.
 */
const BULLMQ_BULK = `
import { Queue } from 'bullmq';
const [jobs, size] = [Number(process.argv[2]), Number(process.argv[3])];
const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const q = new Queue('bench-bulk-' + process.pid, { connection });
await q.waitUntilReady();
const job = (j) => ({ name: 't', data: { i: j, at: Date.now() }, opts: { removeOnComplete: true } });
// One untimed call first (script load, JIT), as ours does.
await q.addBulk(Array.from({ length: size }, (_, j) => job(j)));
const t0 = performance.now();
for (let i = 0; i < jobs; i += size) {
  const batch = [];
  for (let j = i; j < Math.min(jobs, i + size); j++) batch.push(job(j));
  await q.addBulk(batch);
}
const ms = performance.now() - t0;
await q.obliterate({ force: true });
await q.close();
console.log(JSON.stringify({ system: 'bullmq-addBulk', jobs, bulk_size: size, bulk_enqueue_per_s: Math.round(jobs / ms * 1000) }));
process.exit(0);
`;

const BULK_PEERS: Record<string, Record<string, string>> = { redis: { 'bullmq-bulk.mjs': BULLMQ_BULK } };

/** Runs the bulk peers of `broker` (Redis: BullMQ's addBulk); each prints one JSON line. */
export async function runBulkPeers(broker: string, jobs: number, size: number): Promise<Array<Record<string, unknown>>> {
  const scripts = BULK_PEERS[broker] ?? {};
  if (Object.keys(scripts).length === 0) return [];
  prepareScratch();
  const out: Array<Record<string, unknown>> = [];
  for (const [file, source] of Object.entries(scripts)) {
    writeFileSync(join(scratch, file), source);
    const text = execFileSync('node', [join(scratch, file), String(jobs), String(size)], { cwd: scratch, encoding: 'utf8' });
    out.push(JSON.parse(text.trim().split('\n').pop() ?? '{}') as Record<string, unknown>);
  }
  return out;
}

/** BullMQ's limiter beside `--rate-limit` (bench/rate.ts); one JSON line. */
export async function runRatePeer(source: string, jobs: number, concurrency: number, max: number, perMs: number, workers: number): Promise<Record<string, unknown>> {
  prepareScratch();
  writeFileSync(join(scratch, 'bullmq-rate.mjs'), source);
  const text = execFileSync('node', [join(scratch, 'bullmq-rate.mjs'), String(jobs), String(concurrency), String(max), String(perMs), String(workers)], { cwd: scratch, encoding: 'utf8' });
  return JSON.parse(text.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

export async function runPeers(broker: string, jobs: number, concurrency: number, extra: readonly string[] = []): Promise<Array<Record<string, unknown>>> {
  const scripts = PEERS[broker] ?? [];
  if (scripts.length === 0) return [];
  prepareScratch();
  const out: Array<Record<string, unknown>> = [];
  for (const script of scripts) {
    const text = execFileSync('node', [join(scratch, script), String(jobs), String(concurrency), ...extra], { cwd: scratch, encoding: 'utf8' });
    const last = text.trim().split('\n').pop() ?? '{}';
    out.push(JSON.parse(last) as Record<string, unknown>);
  }
  return out;
}
