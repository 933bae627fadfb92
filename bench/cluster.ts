/**
 * `npm run bench -- --broker redis --cluster [--jobs N] [--concurrency C] [--rounds R]`: the
 * headline shape (no-op tasks of ~100 bytes) spread over six queues, on a local 3-master Redis
 * Cluster started here (placement 'queue') and on the single Redis (placement 'app', and 'queue'
 * to show what the per-queue layout itself costs), interleaved round by round. One JSON line per
 * run: enqueue and process rates, and how many masters held the app's keys.
 */
import type { Redis } from 'ioredis';
import { QueueTasks } from '../core/app.js';
import type { Plugin } from '../core/plugin.js';
import { deleteAppKeys, redis } from '../plugins/redis/index.js';
import type { PlacementMode } from '../plugins/redis/placement.js';
import { round } from './measure.js';
import { startLocalCluster, type LocalCluster } from './redis-cluster.js';

const QUEUES = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];

interface Setup {
  readonly target: 'redis' | 'redis-cluster';
  readonly placement: PlacementMode;
  plugins(): Plugin[];
  cleanup(name: string): Promise<number>;
  /** Masters holding keys of the app (the cluster only). */
  masters?(name: string): Promise<number>;
}

async function runOnce(setup: Setup, jobs: number, concurrency: number): Promise<Record<string, unknown>> {
  const name = `bench-cl-${process.pid}-${Date.now()}`;
  const config = { logLevel: 'warn' as const, concurrency, resultTtlMs: 600_000, queues: QUEUES };
  const producer = new QueueTasks({ name, plugins: setup.plugins(), config, globals: false });
  producer.task('noop', (i: number) => i);
  await producer.start({ worker: false });
  let t0 = performance.now();
  for (let i = 0; i < jobs; i += 100) {
    const window: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(jobs, i + 100); j++) window.push(producer.addTask('noop', [j, Date.now()], { queue: QUEUES[j % QUEUES.length]! }));
    await Promise.all(window);
  }
  const enqueueMs = performance.now() - t0;
  const masters = await setup.masters?.(name);
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new QueueTasks({ name, plugins: setup.plugins(), config, globals: false });
  worker.task('noop', (i: number) => i);
  worker.hooks.task.settled.tap('bench', () => {
    if (++done === jobs) finish();
  });
  t0 = performance.now();
  await worker.start();
  await finished;
  const processMs = performance.now() - t0;
  await worker.stop();
  await producer.stop();
  await setup.cleanup(name);
  return {
    system: 'qtasks',
    target: setup.target,
    placement: setup.placement,
    queues: QUEUES.length,
    jobs,
    concurrency,
    enqueue_per_s: Math.round((jobs / enqueueMs) * 1000),
    process_per_s: Math.round((jobs / processMs) * 1000),
    ...(masters !== undefined ? { masters_with_keys: masters } : {}),
  };
}

export async function benchCluster(jobs: number, concurrency: number, rounds: number, print: (line: Record<string, unknown>) => void): Promise<void> {
  const { Redis: RedisClient } = await import('ioredis');
  const url = process.env.QTASKS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const admin: Redis = new RedisClient(url);
  const local: LocalCluster = await startLocalCluster();
  try {
    const single = (placement: PlacementMode): Setup => ({
      target: 'redis',
      placement,
      plugins: () => [redis({ url, placement })],
      cleanup: (name) => deleteAppKeys(admin, name),
    });
    const onCluster: Setup = {
      target: 'redis-cluster',
      placement: 'queue',
      plugins: () => [redis({ client: local.client })],
      cleanup: (name) => deleteAppKeys(local.client, name),
      // The cluster holds only the current run's keys (each run deletes its own).
      masters: async () => {
        let n = 0;
        for (const node of local.client.nodes('master')) if ((await node.dbsize()) > 0) n++;
        return n;
      },
    };
    const lines: Array<Record<string, unknown>> = [];
    for (let r = 0; r < rounds; r++) {
      for (const setup of [single('app'), onCluster, single('queue')]) {
        const line = { ...(await runOnce(setup, jobs, concurrency)), round: r + 1 };
        lines.push(line);
        print(line);
      }
    }
    // The best of each setup side by side: the cluster beside the single Redis.
    const best = (target: string, placement: string, key: string): number =>
      Math.max(...lines.filter((l) => l.target === target && l.placement === placement).map((l) => Number(l[key])));
    print({
      summary: 'best of each',
      cluster_vs_single_app_enqueue: round(best('redis-cluster', 'queue', 'enqueue_per_s') / best('redis', 'app', 'enqueue_per_s'), 2),
      cluster_vs_single_app_process: round(best('redis-cluster', 'queue', 'process_per_s') / best('redis', 'app', 'process_per_s'), 2),
      single_queue_vs_app_enqueue: round(best('redis', 'queue', 'enqueue_per_s') / best('redis', 'app', 'enqueue_per_s'), 2),
      single_queue_vs_app_process: round(best('redis', 'queue', 'process_per_s') / best('redis', 'app', 'process_per_s'), 2),
    });
  } finally {
    await local.stop();
    admin.disconnect();
  }
}
