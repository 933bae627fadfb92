/**
 * The plugin on a real Redis Cluster: three masters started here from the redis-server binary on
 * spare loopback ports, joined with `redis-cli --cluster create`, torn down afterwards. An ioredis
 * Cluster client is passed in as `client`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { waitForRedis } from './redis-helpers.js';

const run = promisify(execFile);

/** A free loopback port whose cluster bus port (+10000) is free too. */
async function sparePort(taken: Set<number>): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await free(port)) && (await free(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('no spare port pair found for the cluster test');
}

describe('redis plugin on a 3-master Redis Cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qtasks-cluster-'));
  const servers: ChildProcess[] = [];
  const ports: number[] = [];
  let cluster: Cluster;
  const apps: QueueTasks[] = [];

  beforeAll(async () => {
    const taken = new Set<number>();
    for (let i = 0; i < 3; i++) ports.push(await sparePort(taken));
    for (const port of ports) {
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      );
      servers.push(proc);
    }
    for (const port of ports) {
      await waitForRedis(port);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitUntil(async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), `cluster state ok on ${port}`, 20_000, 200);
    }
    cluster = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], { enableAutoPipelining: true });
    await waitUntil(async () => (await cluster.ping().catch(() => '')) === 'PONG', 'cluster client ready');
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    cluster?.disconnect();
    for (const s of servers) s.kill('SIGKILL');
    await Promise.all(servers.map((s) => (s.exitCode !== null || s.signalCode !== null ? undefined : new Promise((r) => s.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  });

  function app(name: string, config: Record<string, unknown> = {}): QueueTasks {
    const a = new QueueTasks({
      name,
      plugins: [redis({ client: cluster, blockTimeoutMs: 1_000 })],
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
