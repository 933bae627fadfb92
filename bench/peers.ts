/**
 * Runs the peer scripts from ../shared/bench (BullMQ, bee-queue, raw amqplib) in a scratch copy,
 * installing their dependencies there: shared/ is read-only, and the peers must not become our
 * dependencies. Each script prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The repo root: bench/ runs from dist/bench (npm run bench) or from source (tsx).
const root = basename(resolve(here, '..')) === 'dist' ? resolve(here, '..', '..') : resolve(here, '..');
// ../shared/bench beside the repo (or two levels up from a worktree in /work/wt/<name>);
// QTASKS_BENCH_SHARED overrides.
const shared =
  process.env.QTASKS_BENCH_SHARED ??
  [resolve(root, '..', 'shared', 'bench'), resolve(root, '..', '..', 'shared', 'bench')].find((p) => existsSync(p)) ??
  resolve(root, '..', 'shared', 'bench');
const scratch = join(root, '.bench-tmp');

const PEERS: Record<string, string[]> = {
  memory: [],
  redis: ['bullmq.mjs', 'beequeue.mjs'],
  rabbitmq: ['amqp.mjs'],
};

/** Peer runs are bounded: a hung peer fails its cell instead of the whole matrix. */
const PEER_TIMEOUT_MS = 180_000;

function prepareScratch(): void {
  if (!existsSync(shared)) throw new Error(`peer scripts not found at ${shared}`);
  mkdirSync(scratch, { recursive: true });
  // The scripts are copied every time (they change: --payload, --delay, --latency came later);
  // the dependencies are installed once.
  for (const file of readdirSync(shared)) if (file !== 'node_modules') cpSync(join(shared, file), join(scratch, file), { recursive: true });
  if (!existsSync(join(scratch, 'node_modules'))) execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund'], { cwd: scratch, stdio: 'inherit' });
}

/** The names of the peers of `broker` (the scripts' `system` field), in the order they run. */
export function peerScripts(broker: string): readonly string[] {
  return PEERS[broker] ?? [];
}

/**
 * Node CPU per task of a peer's phases, without touching its script (shared/ is read-only): a
 * preloaded module notes `process.cpuUsage()` at each `performance.now()` the script calls
 * around its phases (enqueue start and end, process start and end, in that order) and prints
 * the differences as one more line at exit. CPU per task does not move with the machine's load
 * the way throughput does, so it compares a shared machine's runs better.
 */
const CPU_HOOK = `
import { writeSync } from 'node:fs';
const marks = [];
const now = performance.now.bind(performance);
performance.now = () => { marks.push(process.cpuUsage()); return now(); };
process.on('exit', () => {
  if (marks.length !== 4) return;
  const us = (a, b) => b.user + b.system - a.user - a.system;
  writeSync(1, '\\n' + JSON.stringify({ peer_cpu_us: { enqueue: us(marks[0], marks[1]), process: us(marks[2], marks[3]) } }) + '\\n');
});
`;

/**
 * Runs one peer script with `args`; returns its result line, parsed. With `cpu` (a script that
 * times enqueue and process with performance.now), the line adds `enqueue_cpu_us` and
 * `process_cpu_us` per task (CPU_HOOK).
 */
export function runPeerScript(script: string, args: readonly string[], cpu = false): Record<string, unknown> {
  prepareScratch();
  if (cpu) writeFileSync(join(scratch, 'cpu-hook.mjs'), CPU_HOOK);
  const text = execFileSync('node', [...(cpu ? ['--import', './cpu-hook.mjs'] : []), join(scratch, script), ...args], { cwd: scratch, encoding: 'utf8', timeout: PEER_TIMEOUT_MS });
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const marks = lines.find((l) => 'peer_cpu_us' in l)?.peer_cpu_us as { enqueue: number; process: number } | undefined;
  const line = lines.filter((l) => !('peer_cpu_us' in l)).pop() ?? {};
  const jobs = Number(line.jobs);
  if (marks === undefined || !(jobs > 0)) return line;
  return { ...line, enqueue_cpu_us: Math.round(marks.enqueue / jobs), process_cpu_us: Math.round(marks.process / jobs) };
}

/**
 * Redis memory per queued task for a peer (shared/bench has no such mode): N jobs added with no
 * worker, then its keys summed with MEMORY USAGE and INFO used_memory before and after, as
 * benchMemory measures ours.
 */
const MEMORY_PEER = `
import { Redis } from 'ioredis';
const [system, jobs, payload] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const redis = { host: '127.0.0.1', port: 6379 };
const r = new Redis(redis);
const name = 'bench-mem-' + process.pid;
const blob = payload > 0 ? 'x'.repeat(payload) : undefined;
const data = (i) => (blob ? { i, at: Date.now(), blob } : { i, at: Date.now() });
const used = async () => Number(/used_memory:(\\d+)/.exec(await r.info('memory'))[1]);
let add, close, pattern;
if (system === 'bullmq') {
  const { Queue } = await import('bullmq');
  const q = new Queue(name, { connection: { ...redis, maxRetriesPerRequest: null } });
  await q.waitUntilReady();
  add = (j) => q.add('t', data(j), { removeOnComplete: true });
  close = async () => { await q.obliterate({ force: true }); await q.close(); };
  pattern = 'bull:' + name + ':*';
} else {
  const { default: Queue } = await import('bee-queue');
  const q = new Queue(name, { redis, isWorker: false, getEvents: false, storeJobs: false, removeOnSuccess: true });
  await q.ready();
  add = (j) => q.createJob(data(j)).save();
  close = async () => { await q.destroy(); await q.close(); };
  pattern = 'bq:' + name + ':*';
}
const before = await used();
for (let i = 0; i < jobs; i += 100) {
  const ps = [];
  for (let j = i; j < Math.min(jobs, i + 100); j++) ps.push(add(j));
  await Promise.all(ps);
}
const after = await used();
let sum = 0, cursor = '0';
do {
  const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
  cursor = next;
  for (const k of keys) sum += Number(await r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
} while (cursor !== '0');
await close(); await r.quit();
console.log(JSON.stringify({ system: system === 'bullmq' ? 'bullmq' : 'bee-queue', jobs, payload_bytes: payload, key_bytes_per_task: Math.round(sum / jobs), info_bytes_per_task: Math.round((after - before) / jobs) }));
process.exit(0);
`;

/** Memory per queued task of BullMQ and bee-queue, one line each. */
export function runMemoryPeers(jobs: number, payload: number): Array<Record<string, unknown>> {
  prepareScratch();
  writeFileSync(join(scratch, 'memory-peer.mjs'), MEMORY_PEER);
  return ['bullmq', 'beequeue'].map((system) => runPeerScript('memory-peer.mjs', [system, String(jobs), String(payload)]));
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
    const text = execFileSync('node', [join(scratch, file), String(jobs), String(size)], { cwd: scratch, encoding: 'utf8', timeout: PEER_TIMEOUT_MS });
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
  for (const script of scripts) out.push(runPeerScript(script, [String(jobs), String(concurrency), ...extra]));
  return out;
}
