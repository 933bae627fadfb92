/**
 * The plugin on a real Redis Cluster with placement 'app': three masters started here
 * (bench/redis-cluster.ts), torn down afterwards. An ioredis Cluster client is passed in as `client`.
 */
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../bench/redis-cluster.js';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName } from '../contracts/helpers.js';

describe('redis plugin on a 3-master Redis Cluster', () => {
  let local: LocalCluster;
  let cluster: Cluster;
  const apps: QueueTasks[] = [];

  beforeAll(async () => {
    local = await startLocalCluster();
    cluster = local.client;
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await local?.stop();
  });

  function app(name: string, config: Record<string, unknown> = {}): QueueTasks {
    const a = new QueueTasks({
      name,
      // Placement 'app' (a Cluster client defaults to 'queue': redis-cluster-queues.test.ts).
      plugins: [redis({ client: cluster, blockTimeoutMs: 1_000, placement: 'app' })],
      config: { logLevel: 'silent', leaseMs: 800, retryDelayMs: 20, retryMaxDelayMs: 50, ...config },
      globals: false,
      sharedTasks: false,
    });
    apps.push(a);
    return a;
  }

  it('runs tasks (results, priorities, delays, retries) with every key of an app on one node', async () => {
    const name = uniqueName('cl');
    const producer = app(name);
    producer.task('t', () => undefined);
    await producer.start({ worker: false });
    const order: string[] = [];
    const plan: Array<[string, number]> = [['a', 5], ['b', 1], ['c', 9], ['d', 0], ['e', 1]];
    const prio = [];
    for (const [label, priority] of plan) prio.push(await producer.addTask('t', [label], { priority }));

    const worker = app(name, { concurrency: 1 });
    let fails = 0;
    worker.task('t', (label: string) => void order.push(label));
    worker.task('double', (n: number) => n * 2);
    worker.task({ name: 'flaky', retry: 2 }, () => {
      if (++fails < 3) throw new Error('not yet');
      return 'done';
    });
    await worker.start();
    for (const r of prio) expect((await worker.wait(r.id, 10_000)).status).toBe('success');
    expect(order).toEqual(['d', 'b', 'e', 'a', 'c']);

    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => producer.addTask('double', [i], { timeout: 10_000 })));
    expect(results.map((r) => r.returning)).toEqual(Array.from({ length: 30 }, (_, i) => i * 2));
    const delayed = await producer.addTask('double', [21], { delay: 300 });
    const flaky = await producer.addTask('flaky', [], { timeout: 10_000 });
    expect(flaky.status).toBe('success');
    expect(flaky.attempts).toBe(3);
    const late = await producer.wait(delayed.id, 10_000);
    expect(late.returning).toBe(42);
    expect(late.startedAt! - delayed.createdAt).toBeGreaterThanOrEqual(300);
    expect(await producer.ping()).toBe(true);

    // All of the app's keys sit on one master: the hash tag keeps the app on one slot.
    const holders: number[] = [];
    for (const node of cluster.nodes('master')) {
      const keys = await node.keys(`qtasks:{${name}}:*`);
      if (keys.length > 0) holders.push(keys.length);
    }
    expect(holders).toHaveLength(1);
  });

  it('keeps two apps apart even when their slots live on different nodes', async () => {
    const names = [uniqueName('cla'), uniqueName('clb'), uniqueName('clc')];
    const seen = new Map<string, string[]>();
    const handles = [];
    for (const n of names) {
      const a = app(n);
      seen.set(n, []);
      handles.push({ n, h: a.task('who', (v: string) => void seen.get(n)!.push(v)), a });
    }
    for (const { a } of handles) await a.start();
    await Promise.all(handles.flatMap(({ n, h }) => [1, 2, 3].map((i) => h.addTask([`${n}:${i}`], { timeout: 10_000 }))));
    for (const n of names) expect(seen.get(n)!.sort()).toEqual([1, 2, 3].map((i) => `${n}:${i}`));
  });
});
