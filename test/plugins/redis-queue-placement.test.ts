/**
 * The Redis plugin with placement 'queue' on the single server at 127.0.0.1:6379: the broker,
 * storage and control conformance suites in the per-queue layout, and what that layout refuses
 * (clearly). The cluster itself: redis-cluster-queues.test.ts.
 */
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import { deleteAppKeys as deleteAppKeysOf, redis } from '../../plugins/redis/index.js';
import { Keys } from '../../plugins/redis/keys.js';
import { brokerConformance, controlConformance } from '../contracts/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
});

const cleanup = async (names: readonly string[]): Promise<void> => deleteAppKeys(admin, names);

/** A ready entry whose stored message is `payload`, on the queue's own base. */
async function injectMalformed(app: string, queue: string, payload: string): Promise<void> {
  const keys = new Keys(PREFIX, app, queue);
  const id = `bad-${Math.random().toString(36).slice(2, 10)}`;
  await admin.set(keys.job(id), `|${payload}`);
  await admin.zadd(keys.ready(queue), 0, `${'0'.repeat(16)}0:${id}\n${payload}`);
  await admin.zadd(keys.wake(queue), 0, 'w');
}

brokerConformance({
  name: "redis, placement 'queue'",
  plugins: () => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000, placement: 'queue' })],
  injectMalformed,
  cleanup,
  process: { module: fileURLToPath(new URL('../fixtures/redis-plugins.ts', import.meta.url)), export: 'queuePlugins', execArgv: ['--import', 'tsx'] },
  // The suite's tasks go to the default queue: their job strings are on its base.
  durable: async (app, id) => (await admin.exists(new Keys(PREFIX, app, 'default').job(id))) === 1,
  lacks: { priorityAcrossQueues: "each queue is on its own slot and has its own claim: priority orders the tasks of one queue (docs/redis.md, 'Placement')" },
});

// Broker only, records kept by a storage in the app's layout under another prefix: no lookups
// by id on the broker's side, the kernel writes the records.
brokerConformance({
  name: "redis broker, placement 'queue', with a separate redis storage",
  plugins: () => [
    redis({ name: 'redis-broker', url: REDIS_URL, storage: false, globalConfig: false, blockTimeoutMs: 1_000, placement: 'queue' }),
    redis({ name: 'redis-storage', url: REDIS_URL, broker: false, prefix: `${PREFIX}-records` }),
  ],
  injectMalformed,
  cleanup: async (names) => {
    await cleanup(names);
    for (const n of names) await deleteAppKeysOf(admin, n, `${PREFIX}-records`);
  },
  lacks: { priorityAcrossQueues: "each queue is on its own slot and has its own claim (docs/redis.md, 'Placement')" },
});

controlConformance({
  name: "redis, placement 'queue'",
  plugins: (_name, options) => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000, placement: 'queue', ...options })],
  cleanup,
});

describe("redis placement 'queue' on one server", () => {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await cleanup(names);
  });

  function app(name: string, config: Record<string, unknown> = {}): QueueTasks {
    names.push(name);
    const a = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 1_000, placement: 'queue' })], config: { logLevel: 'silent', leaseMs: 800, ...config }, globals: false, sharedTasks: false });
    apps.push(a);
    return a;
  }

  it('puts each queue under its own hash tag, and nothing per task under the app tag', async () => {
    const name = uniqueName('qp');
    const queues = ['qa', 'qb', 'q:c'];
    const a = app(name, { queues: ['default', ...queues] });
    a.task('t', (n: number) => n);
    await a.start();
    const recs = await Promise.all(queues.map((queue, i) => a.addTask('t', [i], { queue, timeout: 10_000 })));
    expect(recs.map((r) => r.status)).toEqual(['success', 'success', 'success']);
    for (const [i, queue] of queues.entries()) {
      const keys = new Keys(PREFIX, name, queue);
      expect(keys.base).toBe(`${PREFIX}:q{${name.length}:${name}:${queue}}:`);
      expect(await admin.exists(keys.record(recs[i]!.id))).toBe(1);
    }
    // Under the app's tag: only what spans queues (the queue list, heartbeats...), no task.
    const appKeys = await admin.keys(new Keys(PREFIX, name).pattern);
    expect(appKeys.some((k) => /:(j|r):/.test(k))).toBe(false);
    expect((await admin.smembers(new Keys(PREFIX, name).queues)).sort()).toEqual([...queues].sort());
  });

  it('finds a task by id alone (get, wait, cancel, remove) on whichever queue it is', async () => {
    const name = uniqueName('qp-id');
    const a = app(name);
    a.task('t', () => 'ok');
    await a.start({ worker: false });
    const one = await a.addTask('t', [], { queue: 'one' });
    const two = await a.addTask('t', [], { queue: 'two' });
    expect((await a.get(two.id))?.queue).toBe('two');
    expect(await a.cancel(one.id)).toBe('queued');
    expect((await a.get(one.id))?.status).toBe('cancel');
    const w = app(name, { queues: ['two'] });
    w.task('t', () => 'ok');
    await w.start();
    expect((await a.wait(two.id, 10_000)).returning).toBe('ok');
    expect(await a.remove(two.id)).toBe(true);
    expect(await a.get(two.id)).toBeUndefined();
  });

  it('lists across queues newest first, each record once across pages', async () => {
    const name = uniqueName('qp-list');
    const a = app(name, { queues: ['x', 'y', 'z'] });
    a.task('t', (n: number) => n);
    await a.start();
    const done = [];
    for (let i = 0; i < 9; i++) {
      done.push(await a.addTask('t', [i], { queue: ['x', 'y', 'z'][i % 3]!, timeout: 10_000 }));
      await new Promise((r) => setTimeout(r, 2));
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await a.list({ status: 'success', limit: 2, ...(cursor !== undefined ? { cursor } : {}) });
      seen.push(...page.records.map((r) => r.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(done.map((r) => r.id).reverse());
    expect((await a.list({ status: 'success', queue: 'y' })).records.map((r) => r.args[0])).toEqual([7, 4, 1]);
  });

  it('shares the worker\'s slots among its queues: fewer slots than queues, every queue drains, never more running than concurrency', async () => {
    const name = uniqueName('qp-slots');
    const queues = ['s0', 's1', 's2', 's3', 's4', 's5'];
    const producer = app(name);
    producer.task('t', () => undefined);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 120 }, (_, i) => producer.addTask('t', [i], { queue: queues[i % 6]! })));
    const worker = app(name, { queues, concurrency: 2 });
    let running = 0;
    let most = 0;
    worker.task('t', async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
    });
    await worker.start();
    const finals = await Promise.all(recs.map((r) => worker.wait(r.id, 20_000)));
    expect(finals.every((f) => f.status === 'success' && f.attempts === 1)).toBe(true);
    expect(most).toBe(2);
  });

  it("pausing the app ('*') holds the queues that join later too", async () => {
    const name = uniqueName('qp-pause');
    const a = app(name);
    let runs = 0;
    a.task('t', () => void runs++);
    await a.start({ worker: false });
    await a.pause();
    const producer = app(name);
    producer.task('t', () => undefined);
    await producer.start({ worker: false });
    const rec = await producer.addTask('t', [], { queue: 'late' });
    const w = app(name, { queues: ['late'] });
    w.task('t', () => void runs++);
    await w.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(runs).toBe(0);
    await a.resume();
    await waitUntil(async () => (await a.get(rec.id))?.status === 'success', 'the task ran after resume');
  });

  it("refuses to start in placement 'app' on an app whose keys are in placement 'queue', naming the option", async () => {
    const name = uniqueName('qp-mix');
    const a = app(name);
    a.task('t', () => 1);
    await a.start({ worker: false });
    await a.addTask('t', []);
    names.push(name);
    const old = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(old);
    old.task('t', () => 1);
    await expect(old.start()).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION, message: expect.stringMatching(/placement: 'queue'/) });
  });

  it("refuses placement 'queue' for a storage beside another broker, and an unknown placement", () => {
    expect(() => redis({ url: REDIS_URL, broker: false, placement: 'queue' })).toThrow(QTasksError);
    expect(() => redis({ url: REDIS_URL, placement: 'slot' as 'app' })).toThrow(/placement must be/);
  });
});
