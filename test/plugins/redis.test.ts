/**
 * The Redis plugin against the real server on 127.0.0.1:6379: both conformance suites (fused,
 * split broker/storage, storage alone), ownership of connections, and app isolation.
 */
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes, NoRetryError, QTasksError, RetryLaterError } from '../../core/errors.js';
import { RedisConnection } from '../../plugins/redis/connection.js';
import { deleteAppKeys as deleteAppKeysOf, redis } from '../../plugins/redis/index.js';
import { Keys } from '../../plugins/redis/keys.js';
import { RedisStorage } from '../../plugins/redis/storage.js';
import { brokerConformance, storageConformance } from '../contracts/index.js';
import { gate, sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { PREFIX, REDIS_URL, adminClient, appConnections, deleteAppKeys, injectMalformed } from './redis-helpers.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
});

const cleanup = async (names: readonly string[]): Promise<void> => deleteAppKeys(admin, names);

brokerConformance({
  name: 'redis (broker and storage in one)',
  plugins: () => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })],
  injectMalformed: (app, queue, payload) => injectMalformed(admin, app, queue, payload),
  cleanup,
  process: { module: fileURLToPath(new URL('../fixtures/redis-plugins.ts', import.meta.url)), export: 'plugins', execArgv: ['--import', 'tsx'] },
  // The test's own connection: the job string exists once publish resolved.
  durable: async (app, id) => (await admin.exists(new Keys(PREFIX, app).job(id))) === 1,
});

// The kernel writes records itself: the broker keeps only messages and the storage is fenced.
brokerConformance({
  name: 'redis broker with a separate redis storage',
  plugins: () => [
    redis({ name: 'redis-broker', url: REDIS_URL, storage: false, globalConfig: false, blockTimeoutMs: 1_000 }),
    redis({ name: 'redis-storage', url: REDIS_URL, broker: false, prefix: `${PREFIX}-records` }),
  ],
  injectMalformed: (app, queue, payload) => injectMalformed(admin, app, queue, payload),
  cleanup: async (names) => {
    await cleanup(names);
    for (const n of names) await deleteAppKeysOf(admin, n, `${PREFIX}-records`);
  },
});

storageConformance({
  name: 'redis',
  create: () => new RedisStorage(new RedisConnection({ url: REDIS_URL, prefix: PREFIX })),
  cleanup,
});

describe('redis plugin: options and connection ownership', () => {
  const names: string[] = [];
  afterAll(async () => cleanup(names));

  function app(name: string, plugin: ReturnType<typeof redis>): QueueTasks {
    names.push(name);
    return new QueueTasks({ name, plugins: [plugin], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
  }

  it('rejects url and client together with INVALID_OPTION', async () => {
    const { Redis: RedisClass } = await import('ioredis');
    const client = new RedisClass(REDIS_URL, { lazyConnect: true });
    try {
      expect(() => redis({ url: REDIS_URL, client })).toThrow(QTasksError);
      try {
        redis({ url: REDIS_URL, client });
      } catch (err) {
        expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_OPTION);
      }
    } finally {
      client.disconnect();
    }
  });

  it('refuses a client with an ioredis keyPrefix (scripts build keys the prefix would miss)', async () => {
    const { Redis: RedisClass } = await import('ioredis');
    const client = new RedisClass(REDIS_URL, { keyPrefix: 'x:', lazyConnect: true });
    try {
      const a = app(uniqueName('kp'), redis({ client }));
      await expect(a.start()).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
      expect(() => redis({ url: REDIS_URL, redisOptions: { keyPrefix: 'x:' } })).toThrow(QTasksError);
    } finally {
      client.disconnect();
    }
  });

  it('uses a client passed in and never closes it; closes only the connections it created', async () => {
    const { Redis: RedisClass } = await import('ioredis');
    const client = new RedisClass(REDIS_URL);
    try {
      const name = uniqueName('own-in');
      const a = app(name, redis({ client }));
      const t = a.task('t', (n: number) => n + 1);
      await a.start();
      expect((await t.addTask([1], { timeout: 10_000 })).returning).toBe(2);
      const during = await appConnections(admin, name);
      expect(during.map((c) => c.name).sort()).toEqual([`qtasks:${name}:block`, `qtasks:${name}:ctl`, `qtasks:${name}:sub`]);
      await a.stop();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      // Nothing was added to the caller's client (no defineCommand on it).
      expect(Object.keys(client.scriptsSet)).toEqual([]);
      expect(await appConnections(admin, name)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });

  it('deleteAppKeys removes every key of one app and nothing of another', async () => {
    const gone = uniqueName('flush');
    const kept = uniqueName('flush');
    for (const name of [gone, kept]) {
      const a = app(name, redis({ url: REDIS_URL }));
      const t = a.task('t', () => 'ok');
      await a.start();
      await t.addTask([], { timeout: 10_000 });
      await a.stop();
    }
    const count = async (name: string): Promise<number> => (await admin.keys(`${PREFIX}:{${name}}:*`)).length;
    expect(await count(gone)).toBeGreaterThan(0);
    const before = await count(kept);
    expect(await deleteAppKeysOf(admin, gone)).toBeGreaterThan(0);
    expect(await count(gone)).toBe(0);
    expect(await count(kept)).toBe(before);
  });

  it('closes the connections it created from a url on stop', async () => {
    const name = uniqueName('own-url');
    const a = app(name, redis({ url: REDIS_URL }));
    const t = a.task('t', () => 'ok');
    await a.start();
    expect((await t.addTask([], { timeout: 10_000 })).returning).toBe('ok');
    expect((await appConnections(admin, name)).map((c) => c.name).sort()).toEqual([`qtasks:${name}:block`, `qtasks:${name}:cmd`, `qtasks:${name}:ctl`, `qtasks:${name}:sub`]);
    await a.stop();
    await waitUntil(async () => (await appConnections(admin, name)).length === 0, 'owned connections closed');
  });

  it('fails start loudly when no server answers', async () => {
    const a = app(uniqueName('down'), redis({ url: 'redis://127.0.0.1:1', redisOptions: { retryStrategy: () => null } }));
    await expect(a.start()).rejects.toMatchObject({ code: ErrorCodes.CONNECTION_FAILED });
  });

  it('supplies only the parts asked for', async () => {
    const name = uniqueName('parts');
    const a = app(name, redis({ url: REDIS_URL, broker: false }));
    a.task('t', () => 1);
    await a.start({ worker: false });
    expect(a.broker.name).toBe('memory');
    expect(a.storage.name).toBe('redis');
    expect(a.globalConfig.name).toBe('redis');
    await a.stop();
  });
});

describe('redis plugin: isolation, global config, malformed entries', () => {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await cleanup(names);
  });

  function app(name: string, config: Record<string, unknown> = {}): QueueTasks {
    names.push(name);
    const a = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })], config: { logLevel: 'silent', ...config }, globals: false, sharedTasks: false });
    apps.push(a);
    return a;
  }

  it('two apps on one Redis never see each other’s tasks or records', async () => {
    const nameA = uniqueName('iso-a');
    const nameB = uniqueName('iso-b');
    const a = app(nameA);
    const b = app(nameB);
    const seen: Record<string, string[]> = { a: [], b: [] };
    const ta = a.task('t', (v: string) => void seen.a!.push(v));
    b.task('t', (v: string) => void seen.b!.push(v));
    await a.start();
    await b.start();
    const recs = await Promise.all(['1', '2', '3', '4'].map((v) => ta.addTask([v], { timeout: 10_000 })));
    expect(recs.every((r) => r.status === 'success')).toBe(true);
    await sleep(300);
    expect(seen.a!.sort()).toEqual(['1', '2', '3', '4']);
    expect(seen.b).toEqual([]);
    expect(await b.get(recs[0]!.id)).toBeUndefined();
    // Every key of app A carries A's hash tag, so the app stays on one cluster slot.
    const keys = await admin.keys(`${PREFIX}:{${nameA}}:*`);
    expect(keys.length).toBeGreaterThan(0);
    // Redis Cluster hashes only the part between the first '{' and the next '}'.
    const tags = new Set(keys.map((k) => k.slice(k.indexOf('{') + 1, k.indexOf('}', k.indexOf('{') + 1))));
    expect([...tags]).toEqual([nameA]);
  });

  it('claims ahead with two steps in flight, yet never runs more than the concurrency limit; each task runs once', async () => {
    // Settlements still on their way count as free slots for the next claim: tasks of mixed
    // length keep some running while others' settlements are in flight.
    const name = uniqueName('lanes');
    const producer = app(name);
    producer.task('t', (i: number) => i);
    await producer.start({ worker: false });
    const records = await Promise.all(Array.from({ length: 400 }, (_, i) => producer.addTask('t', [i])));
    const worker = app(name, { concurrency: 4 });
    let running = 0;
    let max = 0;
    const runs = new Map<number, number>();
    worker.task('t', async (i: number) => {
      running++;
      max = Math.max(max, running);
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await (i % 3 === 0 ? sleep(2) : new Promise((resolve) => setImmediate(resolve)));
      running--;
      return i;
    });
    await worker.start();
    const done = await Promise.all(records.map((r) => worker.wait(r.id, 20_000)));
    expect(done.every((r, i) => r.status === 'success' && r.returning === i && r.attempts === 1)).toBe(true);
    expect(max).toBe(4);
    expect([...runs.values()].every((n) => n === 1) && runs.size === 400).toBe(true);
  });

  it('keeps the waiting set to live waits: answered ones leave it, ended ones are dropped', async () => {
    const name = uniqueName('wait');
    const a = app(name);
    const t = a.task('t', (n: number) => n);
    await a.start();
    const waiting = `${PREFIX}:{${name}}:waiting`;
    expect((await t.addTask([1], { timeout: 10_000 })).returning).toBe(1);
    expect(await admin.zcard(waiting)).toBe(0);
    // A wait that ends unanswered leaves its entry until the wait's end (+1 s) has passed...
    await expect(a.wait('never-published', 20)).rejects.toMatchObject({ code: ErrorCodes.WAIT_TIMEOUT });
    expect(await admin.zscore(waiting, 'never-published')).not.toBeNull();
    await waitUntil(async () => (await admin.zscore(waiting, 'never-published')) !== null && Number(await admin.zscore(waiting, 'never-published')) < Date.now() - 50, 'the wait to end', 5_000, 50);
    // ...and the next wait drops it.
    expect((await t.addTask([2], { timeout: 10_000 })).returning).toBe(2);
    expect(await admin.zcard(waiting)).toBe(0);
  });

  it('answers ping() from heartbeats and keeps a shared key-value store', async () => {
    const name = uniqueName('gc');
    const producer = app(name);
    await producer.start({ worker: false });
    expect(await producer.ping()).toBe(false);
    const worker = app(name, { heartbeatMs: 200 });
    worker.task('t', () => 1);
    await worker.start();
    expect(await producer.ping()).toBe(true);
    await producer.globalConfig.set('mode', 'blue');
    expect(await worker.globalConfig.get('mode')).toBe('blue');
    expect(await worker.globalConfig.get('missing')).toBeUndefined();
    await worker.stop();
    await waitUntil(async () => (await producer.ping()) === false, 'heartbeat expiry', 5_000, 50);
  });

  it('a malformed message dead-lettered after its claim leaves nothing counted as running', async () => {
    const name = uniqueName('xcount');
    const a = app(name);
    a.task('t', (n: number) => n);
    await a.start();
    await injectMalformed(admin, name, 'default', '{not json');
    await waitUntil(async () => (await a.broker.deadLetters(10)).length === 1, 'the dead letter');
    await waitUntil(async () => (await a.counts('default'))[0]?.running === 0, 'running back to 0');
    expect((await a.counts('default'))[0]).toMatchObject({ waiting: 0, running: 0 });
  });

  it('dead-letters unreadable entries in the ready set and keeps running', async () => {
    const name = uniqueName('orphan');
    const a = app(name);
    const t = a.task('t', (n: number) => n);
    await a.start();
    const { Keys } = await import('../../plugins/redis/keys.js');
    const keys = new Keys(PREFIX, name);
    await admin.zadd(keys.ready('default'), 0, `${'0'.repeat(16)}no-colon-no-id`);
    await admin.zadd(keys.ready('default'), 0, 'garbage');
    await admin.zadd(keys.wake('default'), 0, 'w');
    const letters = await waitUntil(async () => {
      const all = await a.broker.deadLetters(10);
      return all.length >= 2 ? all : undefined;
    }, 'two dead letters');
    expect(letters.map((l) => l.payload).sort()).toEqual([`${'0'.repeat(16)}no-colon-no-id`, 'garbage']);
    expect(letters.every((l) => l.reason.includes('malformed'))).toBe(true);
    expect((await t.addTask([3], { timeout: 10_000 })).returning).toBe(3);
  });

  it('a poison entry over its delivery limit is dead-lettered with its id and payload, though it has no stored message', async () => {
    // Written straight into the ready set, as a crash loop leaves it: a valid task already
    // delivered 5 times, whose job string is gone. The payload is what the entry carries.
    const name = uniqueName('poison');
    const a = app(name);
    const runs: number[] = [];
    a.task('t', (n: number) => void runs.push(n));
    await a.start();
    const { Keys } = await import('../../plugins/redis/keys.js');
    const keys = new Keys(PREFIX, name);
    const message = { id: 'poison-1', name: 't', queue: 'default', args: [7], priority: 0, createdAt: Date.now(), maxDeliveries: 3 };
    await admin.zadd(keys.ready('default'), 0, `${'0'.repeat(16)}5:poison-1\n${JSON.stringify(message)}`);
    await admin.zadd(keys.wake('default'), 0, 'w');
    const letters = await waitUntil(async () => {
      const all = await a.broker.deadLetters(10);
      return all.length >= 1 ? all : undefined;
    }, 'a dead letter');
    expect(letters).toHaveLength(1);
    expect(letters[0]!.id).toBe('poison-1');
    expect(JSON.parse(letters[0]!.payload)).toEqual(message);
    expect(runs).toEqual([]);
    expect((await a.get('poison-1'))?.status).toBe('dead');
  });

  it('wakes an idle worker for a delayed task at its due time, not at the blocking cap', async () => {
    const name = uniqueName('due');
    names.push(name);
    const a = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 60_000 })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(a);
    const t = a.task('t', () => 'late');
    await a.start();
    await sleep(200); // the worker is now blocked on its wake-up marker
    const rec = await t.addTask([], { delay: 300 });
    const done = await a.wait(rec.id, 5_000); // far below the 60 s cap
    expect(done.returning).toBe('late');
    expect(done.startedAt! - rec.createdAt).toBeGreaterThanOrEqual(300);
  });

  it('renews the lease of a long task: it runs once although it outlives several lease periods', async () => {
    const a = app(uniqueName('renew'), { leaseMs: 300 });
    const b = app(a.name, { leaseMs: 300 });
    let runs = 0;
    const t = a.task('slow', async () => {
      runs++;
      await sleep(1_200);
      return 'done';
    });
    b.task('slow', () => void runs++);
    await a.start();
    await b.start();
    const rec = await t.addTask([], { timeout: 10_000 });
    expect(rec.status).toBe('success');
    expect(rec.attempts).toBe(1);
    expect(runs).toBe(1);
  });

  it('fences a completion whose lease was taken over: it returns false and the newer outcome stays', async () => {
    const name = uniqueName('fence');
    const stale = app(name, { concurrency: 1 });
    const g = gate();
    let staleSettled = 0;
    stale.task('t', async () => {
      await g.promise;
      return 'stale';
    });
    stale.hooks.task.settled.tap('test', () => void staleSettled++);
    await stale.start();
    const rec = await stale.addTask('t', []);
    await waitUntil(async () => (await stale.get(rec.id))?.status === 'process', 'first delivery running');
    // Expire its lease as if the worker had stalled; the next claim anywhere takes the task over.
    const { Keys } = await import('../../plugins/redis/keys.js');
    await admin.zadd(new Keys(PREFIX, name).leases, 'XX', 0, `0:${rec.id}`);
    const fresh = app(name);
    fresh.task('t', () => 'fresh');
    await fresh.start();
    const done = await fresh.wait(rec.id, 10_000);
    expect(done.returning).toBe('fresh');
    expect(done.attempts).toBe(2);
    // The stalled worker finishes now; stop() waits for its settlement, which must be refused.
    g.open();
    await stale.stop();
    const after = await fresh.get(rec.id);
    expect(after?.returning).toBe('fresh');
    expect(after?.attempts).toBe(2);
    expect(staleSettled).toBe(0);
  });

  it('stores a queued message once: the ready entry holds no copy of it, and it runs intact', async () => {
    const name = uniqueName('once');
    const a = app(name);
    const blob = 'x'.repeat(10_000);
    const seen: number[] = [];
    a.task('t', (s: string) => void seen.push(s.length));
    await a.start({ worker: false });
    const rec = await a.addTask('t', [blob]);
    const { Keys } = await import('../../plugins/redis/keys.js');
    const keys = new Keys(PREFIX, name);
    const [member] = await admin.zrange(keys.ready('default'), 0, -1);
    expect(member).toMatch(new RegExp(`^[0-9a-f]{16}0:${rec.id}$`));
    expect(await admin.strlen(keys.job(rec.id))).toBeGreaterThan(10_000);
    const worker = app(name);
    worker.task('t', (s: string) => void seen.push(s.length));
    await worker.start();
    expect((await worker.wait(rec.id, 10_000)).status).toBe('success');
    expect(seen).toEqual([10_000]);
  });

  it('enqueues only the ids of a batch not already there (queued or with a record); the others are left as they are', async () => {
    // Ids chosen by a tap: the second tick repeats some of the first's (what a resent script
    // does) mixed with new ones, ready, delayed and with given records.
    const name = uniqueName('idem');
    const a = app(name);
    const runs: string[] = [];
    a.task('t', (v: string) => void runs.push(v));
    a.hooks.broker.beforePublish.tap('test', (m) => ({ ...m, id: `id-${String(m.args[0])}`, ...(m.args[1] === 'given' ? { createdAt: 1_000 } : {}) }));
    await a.start({ worker: false });
    await Promise.all(['a', 'b', 'c'].map((v) => a.addTask('t', [v])));
    await Promise.all([
      a.addTask('t', ['b', 'again']),
      a.addTask('t', ['d']),
      a.addTask('t', ['c', 'given']),
      a.addTask('t', ['e', 'given']),
      a.addTask('t', ['f'], { delay: 50 }),
      a.addTask('t', ['a'], { delay: 50 }),
    ]);
    const { Keys } = await import('../../plugins/redis/keys.js');
    const keys = new Keys(PREFIX, name);
    expect(await admin.zcard(keys.ready('default'))).toBe(5); // a b c d e
    expect(await admin.zcard(keys.delayed)).toBe(1); // f
    expect(await admin.exists(keys.record('id-c'))).toBe(0); // the repeat's record was not written
    expect(await admin.exists(keys.record('id-e'))).toBe(1);
    const worker = app(name);
    worker.task('t', (v: string) => void runs.push(v));
    await worker.start();
    await waitUntil(() => runs.length >= 6, 'six runs');
    await sleep(300);
    expect(runs.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('stores the new record as given when it is not the one the message derives to', async () => {
    const name = uniqueName('derive');
    const a = app(name);
    a.task('t', () => 1);
    // A tap that rewrites createdAt: the kernel's `new` record then differs from the derivation.
    a.hooks.broker.beforePublish.tap('test', (m) => ({ ...m, createdAt: 1_000 }));
    await a.start({ worker: false });
    const plain = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(plain);
    await plain.start({ worker: false });
    const rec = await a.addTask('t', [1], { delay: 60_000 });
    const stored = await plain.get(rec.id);
    expect(stored).toEqual(rec);
    expect(stored?.createdAt).toBe(1_000);
    expect(stored?.updatedAt).not.toBe(1_000);
    expect(stored?.runAt).toBe(rec.runAt);
    const { Keys } = await import('../../plugins/redis/keys.js');
    expect(await admin.get(new Keys(PREFIX, name).record(rec.id))).toMatch(/^0\|/);
    // And the usual case: nothing but the job is stored, the record is derived on read.
    const usual = await plain.addTask('t', [2]);
    expect(await admin.exists(new Keys(PREFIX, name).record(usual.id))).toBe(0);
    expect(await plain.get(usual.id)).toEqual(usual);
  });

  it('enqueues one tick mixing queues, priorities, a delay and given records: every task keeps its own fields', async () => {
    // One script call carries runs of tasks under shared group headers: the runs must not bleed.
    const name = uniqueName('groups');
    const producer = app(name);
    // A tap that rewrites createdAt makes the `new` record one the message does not derive to.
    producer.hooks.broker.beforePublish.tap('test', (m) => (['a4', 'a5'].includes(m.args[0] as string) ? { ...m, createdAt: 1_000 } : m));
    producer.task({ name: 't', queue: 'qa' }, () => undefined);
    await producer.start({ worker: false });
    const plan: Array<{ label: string; queue: string; priority: number; delay?: number; given?: boolean }> = [
      { label: 'a1', queue: 'qa', priority: 2 },
      { label: 'a2', queue: 'qa', priority: 2 },
      { label: 'b1', queue: 'q|b', priority: 2 },
      { label: 'a3', queue: 'qa', priority: 0 },
      { label: 'late', queue: 'qa', priority: 0, delay: 60_000 },
      { label: 'a4', queue: 'qa', priority: 0, given: true },
      { label: 'a5', queue: 'qa', priority: 0, given: true },
      { label: 'b2', queue: 'q|b', priority: 1 },
      { label: 'a6', queue: 'qa', priority: 2 },
    ];
    const records = await Promise.all(
      plan.map((p) => producer.addTask('t', [p.label], { queue: p.queue, priority: p.priority, ...(p.delay !== undefined ? { delay: p.delay } : {}) })),
    );
    for (const [k, p] of plan.entries()) {
      const stored = await producer.get(records[k]!.id);
      expect(stored).toEqual(records[k]);
      expect(stored).toMatchObject({ queue: p.queue, priority: p.priority, args: [p.label], status: 'new' });
      expect(stored!.createdAt === 1_000).toBe(p.given === true);
      expect(stored!.runAt !== undefined).toBe(p.delay !== undefined);
    }
    // Each queue's worker runs exactly that queue's tasks: lower priority first, publish order
    // within a priority; the delayed one waits in the delayed set (its minute is not up).
    const ran = async (queue: string): Promise<string[]> => {
      const order: string[] = [];
      const worker = app(name, { concurrency: 1, queues: [queue] });
      worker.task({ name: 't', queue: 'qa' }, (label: string) => void order.push(label));
      await worker.start();
      for (const [k, p] of plan.entries()) {
        if (p.queue === queue && p.delay === undefined) expect((await worker.wait(records[k]!.id, 10_000)).status).toBe('success');
      }
      await worker.stop();
      return order;
    };
    expect(await ran('qa')).toEqual(['a3', 'a4', 'a5', 'a1', 'a2', 'a6']);
    expect(await ran('q|b')).toEqual(['b2', 'b1']);
    const late = records[plan.findIndex((p) => p.label === 'late')]!;
    expect(await admin.zscore(`${PREFIX}:{${name}}:delayed`, `0:${late.id}`)).not.toBeNull();
  });

  it('settles a batch mixing kinds and TTLs (successes, failures, retries, malformed entries): each op keeps its own', async () => {
    // One claim, run at once, settled in one step: the ops travel in runs under shared headers.
    // The plan puts ops of one kind and different numbers side by side, and ops of different
    // kinds with the same number (a retry in 60 s next to a 60 s result TTL).
    const name = uniqueName('mixed-ops');
    const producer = app(name);
    producer.task('short', () => undefined);
    producer.task('long', () => undefined);
    await producer.start({ worker: false });
    const round = [['later', 'short'], ['ok', 'short'], ['flaky', 'long'], ['bad', 'long'], ['ok', 'long'], ['ok', 'short'], ['bad', 'short'], ['flaky', 'short'], ['later', 'long']];
    const plan = [...round, ...round, ...round].map(([kind, task]) => ({ kind: kind!, task: task! }));
    await injectMalformed(admin, name, 'default', '{"not":"a task"}');
    const records = await Promise.all(plan.map((p, i) => producer.addTask(p.task, [p.kind, i])));
    const worker = app(name, { concurrency: 40 });
    const seen = new Set<number>();
    const handler = (kind: string, i: number): number => {
      const again = seen.has(i);
      seen.add(i);
      if (kind === 'bad') throw new NoRetryError(`bad ${i}`);
      if (kind === 'later') throw new RetryLaterError(60_000);
      if (kind === 'flaky' && !again) throw new Error(`flaky ${i}`);
      return i;
    };
    worker.task({ name: 'short', retry: 1, retryDelayMs: 0, resultTtlMs: 60_000 }, handler);
    worker.task({ name: 'long', retry: 1, retryDelayMs: 0, resultTtlMs: 3_600_000 }, handler);
    await worker.start();
    const keys = new (await import('../../plugins/redis/keys.js')).Keys(PREFIX, name);
    for (const [i, p] of plan.entries()) {
      const id = records[i]!.id;
      if (p.kind === 'later') {
        // Back in the delayed set for a minute, its record says retry.
        const r = await waitUntil(async () => ((await worker.get(id))?.status === 'retry' ? worker.get(id) : undefined), `task ${i} in retry`);
        expect(r!.runAt! - r!.updatedAt).toBeGreaterThan(30_000);
        expect(await admin.zscore(keys.delayed, `1:${id}`)).not.toBeNull();
        continue;
      }
      const r = await worker.wait(id, 10_000);
      if (p.kind === 'bad') expect(r).toMatchObject({ status: 'error', attempts: 1, error: { message: `bad ${i}` } });
      else expect(r).toMatchObject({ status: 'success', returning: i, attempts: p.kind === 'flaky' ? 2 : 1 });
      const ttl = await admin.pttl(keys.record(id));
      if (p.task === 'short') expect(ttl > 0 && ttl <= 60_000).toBe(true);
      else expect(ttl > 60_000 && ttl <= 3_600_000).toBe(true);
    }
    const letters = await waitUntil(async () => {
      const all = await worker.broker.deadLetters(10);
      return all.length >= 1 ? all : undefined;
    }, 'the malformed entry dead-lettered');
    expect(letters).toHaveLength(1);
    expect(letters[0]!.payload).toBe('{"not":"a task"}');
  });

  it('rejects a message whose id does not match its entry', async () => {
    const name = uniqueName('mismatch');
    const a = app(name);
    const t = a.task('t', (n: number) => n);
    await a.start();
    const msg = { id: 'other', name: 't', queue: 'default', args: [1], priority: 0, createdAt: Date.now(), maxDeliveries: 3 };
    await injectMalformed(admin, name, 'default', JSON.stringify(msg));
    const letters = await waitUntil(async () => {
      const all = await a.broker.deadLetters(10);
      return all.length >= 1 ? all : undefined;
    }, 'a dead letter');
    expect(letters[0]!.reason).toMatch(/id does not match/);
    expect((await t.addTask([4], { timeout: 10_000 })).returning).toBe(4);
  });
});
