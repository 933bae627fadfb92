/**
 * Placement 'queue' on a real 3-master Redis Cluster (bench/redis-cluster.ts): an app's queues
 * spread over the masters, a worker consuming them all runs every task once, and a worker
 * process killed with SIGKILL mid-batch loses nothing.
 */
import { fileURLToPath } from 'node:url';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../bench/redis-cluster.js';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes } from '../../core/errors.js';
import { Keys, deleteAppKeys, redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { startChild, type Child } from '../support/child.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-cluster-worker.ts', import.meta.url));
const QUEUES = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];

describe("redis placement 'queue' on a 3-master Redis Cluster", () => {
  let local: LocalCluster;
  let cluster: Cluster;
  const apps: QueueTasks[] = [];
  const children: Child[] = [];
  const names: string[] = [];

  beforeAll(async () => {
    local = await startLocalCluster();
    cluster = local.client;
  }, 60_000);

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await c.exited;
    }
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    for (const n of names.splice(0)) await deleteAppKeys(cluster, n);
  });

  afterAll(async () => {
    await local?.stop();
  });

  function app(name: string, config: Record<string, unknown> = {}): QueueTasks {
    if (!names.includes(name)) names.push(name);
    const a = new QueueTasks({
      name,
      plugins: [redis({ client: cluster, blockTimeoutMs: 1_000 })],
      config: { logLevel: 'silent', leaseMs: 1_000, queues: QUEUES, ...config },
      globals: false,
      sharedTasks: false,
    });
    apps.push(a);
    return a;
  }

  /** The master serving each queue of app `name` (by its base's hash tag). */
  async function mastersOf(name: string): Promise<number[]> {
    return Promise.all(QUEUES.map((q) => local.masterOf(new Keys('qtasks', name, q).base)));
  }

  /** An app name whose six queues do not all hash to one master (a one-in-243 chance each). */
  async function spreadName(prefix: string): Promise<string> {
    for (;;) {
      const name = uniqueName(prefix);
      if (new Set(await mastersOf(name)).size > 1) return name;
    }
  }

  it('puts the queues of one app on more than one master, and a worker consuming all six runs every task once', async () => {
    const name = await spreadName('clq');
    const producer = app(name);
    producer.task('work', (n: number, _blob?: string) => n);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 300 }, (_, i) => producer.addTask('work', [i], { queue: QUEUES[i % QUEUES.length]! })));

    // Each queue's keys are on the master its tag hashes to, and only there.
    const expected = await mastersOf(name);
    const holders = new Set<number>();
    for (const [k, queue] of QUEUES.entries()) {
      const keys = new Keys('qtasks', name, queue);
      for (const node of cluster.nodes('master')) {
        const found = await node.keys(keys.pattern);
        if (found.length > 0) {
          expect(node.options.port).toBe(expected[k]);
          expect(found).toContain(keys.ready(queue));
          holders.add(node.options.port!);
        }
      }
    }
    expect(holders.size).toBeGreaterThan(1);
    expect(holders).toEqual(new Set(expected));

    const runs = new Map<string, number>();
    const worker = app(name, { concurrency: 8 });
    // Events come from each queue's stream, on each queue's master.
    const completed = new Set<string>();
    producer.events.on('completed', (e) => void completed.add(e.id));
    await producer.events.ready();
    worker.task({ name: 'work', echo: true }, (ctx, n: number, _blob?: string) => {
      runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
      return n;
    });
    await worker.start();
    const finals = await Promise.all(recs.map((r) => worker.wait(r.id, 20_000)));
    expect(finals.map((f) => [f.status, f.returning, f.queue])).toEqual(recs.map((r, i) => ['success', i, QUEUES[i % QUEUES.length]]));
    expect(runs.size).toBe(recs.length);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    // Counts come from every queue's master.
    const counts = await worker.counts();
    expect(counts.map((c) => [c.queue, c.success])).toEqual(QUEUES.map((q) => [q, 50]));
    await waitUntil(() => completed.size === recs.length, 'a completed event per task');
    // A listing across the queues (pages merged from every master) shows each task once.
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await producer.list({ status: 'success', limit: 70, ...(cursor !== undefined ? { cursor } : {}) });
      listed.push(...page.records.map((r) => r.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(listed.sort()).toEqual(recs.map((r) => r.id).sort());
    // A large message (staged with its enqueue in one transaction on its queue's master; its
    // final record stored without args, read back from the queue's kept message).
    const big = 'x'.repeat(100_000);
    const large = await producer.addTask('work', [big.length, big], { queue: 'q3', timeout: 20_000 });
    expect(large.status).toBe('success');
    expect((await producer.get(large.id))?.args).toEqual([big.length, big]);
  });

  it('loses nothing when a worker process is killed with SIGKILL mid-batch: another worker finishes, every task runs', async () => {
    const name = await spreadName('clcrash');
    const env = { QT_APP: name, QT_CLUSTER_PORT: String(local.ports[0]), QT_QUEUES: QUEUES.join(','), QT_CONCURRENCY: '6', QT_LEASE_MS: '1000' };
    const victim = startChild(FIXTURE, env);
    children.push(victim);
    await victim.ready;
    const producer = app(name);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 60 }, (_, i) => producer.addTask('work', [150], { queue: QUEUES[i % QUEUES.length]! })));
    await waitUntil(() => victim.lines.filter((l) => l.startsWith('start ')).length >= 6, 'the victim to start a batch');
    const inFlight = victim.lines.filter((l) => l.startsWith('start ')).map((l) => l.slice(6));
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');

    const rescuer = startChild(FIXTURE, env);
    children.push(rescuer);
    await rescuer.ready;
    const finals = await Promise.all(recs.map((r) => producer.wait(r.id, 30_000)));
    expect(finals.every((f) => f.status === 'success' && f.returning === 150)).toBe(true);
    const counts = await waitUntil(async () => {
      const all = await cluster.hgetall(`qtasks-test:{${name}}:counts`);
      return recs.every((r) => all[`settled:${r.id}`] !== undefined) ? all : undefined;
    }, 'every settlement counted');
    for (const r of recs) {
      expect(Number(counts[`settled:${r.id}`])).toBe(1);
      expect(Number(counts[`exec:${r.id}`])).toBeGreaterThanOrEqual(1);
    }
    // What the victim was running ran again in the rescuer, as a later attempt.
    const rerun = finals.filter((f) => inFlight.includes(f.id) && f.attempts >= 2);
    expect(rerun.length).toBeGreaterThanOrEqual(1);
    // Nothing is left in any queue's structures, on any master.
    for (const q of QUEUES) {
      const keys = new Keys('qtasks', name, q);
      expect(await cluster.zcard(keys.leases)).toBe(0);
      expect(await cluster.zcard(keys.ready(q))).toBe(0);
    }
    await cluster.del(`qtasks-test:{${name}}:counts`);
  }, 60_000);

  it("refuses to start on an app whose keys are in placement 'app', naming the option", async () => {
    const name = uniqueName('clmix');
    names.push(name);
    const old = new QueueTasks({ name, plugins: [redis({ client: cluster, placement: 'app' })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(old);
    old.task('t', () => 1);
    await old.start({ worker: false });
    await old.addTask('t', []);
    const upgraded = app(name);
    upgraded.task('t', () => 1);
    await expect(upgraded.start()).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION, message: expect.stringMatching(/placement: 'app'/) });
  });
});
