// The control plane on RabbitMQ with Redis storage: every capability (counts
// and lists from the server queue and the storage's indexes); RabbitMQ alone fails clearly (docs/rabbitmq.md).
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes } from '../../core/errors.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { controlConformance } from '../contracts/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import type { TaskEvent } from '../../core/contracts.js';
import { RabbitFixture, TEST_PREFIX, closeConnectionByName } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

const fx = new RabbitFixture();
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await fx.close();
  await admin?.quit();
});

controlConformance({
  name: 'rabbitmq broker + redis storage',
  plugins: (name, options) => [fx.plugin(name), redis({ url: REDIS_URL, broker: false, ...options })],
  unsupported: ['replay'],
  storageIndex: true,
  cleanup: async (names) => {
    await fx.cleanup(names);
    await deleteAppKeys(admin, names);
  },
});

// Memory storage and global config beside RabbitMQ (apps of one name share a backend, as processes
// would share a Redis): the same capabilities, from the memory storage's indexes.
const backends = new Map<string, MemoryBackend>();
const backendOf = (name: string): MemoryBackend => {
  let b = backends.get(name);
  if (b === undefined) backends.set(name, (b = new MemoryBackend()));
  return b;
};
controlConformance({
  name: 'rabbitmq broker + memory storage',
  plugins: (name, options) => [fx.plugin(name), memory({ backend: backendOf(name), broker: false, ...options })],
  unsupported: ['replay'],
  storageIndex: true,
  cleanup: async (names) => {
    await fx.cleanup(names);
    for (const n of names) backends.delete(n);
  },
});

// RabbitMQ alone: its reply storage knows this process's tasks only and the global config is the
// kernel's per-app memory one, so cancel and pause are not offered; events and progress are.
describe('rabbitmq control plane without storage or global-config plugins', () => {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names.splice(0));
  });

  it('fails cancel and pause clearly, naming the plugins that offer them; events and progress work', async () => {
    const name = uniqueName('alone');
    names.push(name);
    const app = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(app);
    const t = app.task({ name: 'tick', echo: true }, (ctx) => {
      ctx.progress(1);
      return 'ok';
    });
    await app.start();
    for (const call of [() => app.cancel('x'), () => app.pause('default')]) {
      const err = await call().then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
      expect(err?.code).toBe(ErrorCodes.UNSUPPORTED);
      expect(err?.message).toContain('redis({ broker: false })');
    }
    const seen: string[] = [];
    app.events.on('*', (e) => void seen.push(e.type));
    await app.events.ready();
    const values: unknown[] = [];
    expect((await t.addTask([], { timeout: 10_000, onProgress: (v) => values.push(v) })).returning).toBe('ok');
    expect(values).toEqual([1]);
    await waitUntil(() => seen.includes('completed'), 'completed event');
    expect(seen).toEqual(['added', 'active', 'progress', 'completed']);
  });

  it('sends the events of a burst grouped per tick and queue, each event once and in order', async () => {
    const name = uniqueName('burst');
    names.push(name);
    const producer = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    const worker = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent', concurrency: 50 }, globals: false, sharedTasks: false });
    apps.push(producer, worker);
    for (const app of [producer, worker]) app.task('echo', (i: number) => i);
    await producer.start({ worker: false });
    const seen: TaskEvent[] = [];
    producer.events.on('*', (e) => void seen.push(e));
    await producer.events.ready();
    // The messages on the wire, as a foreign listener bound to the exchange gets them.
    const ch = await (await fx.admin()).createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, `${TEST_PREFIX}.${name}.events`, '#');
    const wire: Array<{ key: string; body: unknown }> = [];
    await ch.consume(queue, (m) => m && wire.push({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }), { noAck: true });
    const tasks = 600;
    const ids = (await Promise.all(Array.from({ length: tasks }, (_, i) => producer.addTask('echo', [i])))).map((r) => r.id);
    await worker.start();
    await waitUntil(() => seen.filter((e) => e.type === 'completed').length === tasks, 'every completed event', 20_000);
    const onWire = (): number => wire.reduce((n, w) => n + (Array.isArray(w.body) ? w.body.length : 1), 0);
    await waitUntil(() => onWire() === 3 * tasks, 'every event on the bound queue');
    await ch.close();
    // Each task: added, active, completed, once each and in that order.
    for (const id of ids) expect(seen.filter((e) => e.id === id).map((e) => e.type)).toEqual(['added', 'active', 'completed']);
    expect(seen).toHaveLength(3 * tasks);
    // Grouped: far fewer messages than events; an array under a shared type's key or `mixed.`.
    const events = wire.flatMap((w) => (Array.isArray(w.body) ? w.body : [w.body]) as TaskEvent[]);
    expect(events.map((e) => `${e.type}:${e.id}`)).toEqual(seen.map((e) => `${e.type}:${e.id}`));
    expect(wire.length).toBeLessThan(tasks);
    for (const w of wire) {
      const group = (Array.isArray(w.body) ? w.body : [w.body]) as TaskEvent[];
      const types = new Set(group.map((e) => e.type));
      expect(new Set(group.map((e) => e.queue)).size).toBe(1);
      expect(w.key).toBe(`${types.size === 1 ? group[0]!.type : 'mixed'}.${group[0]!.queue}`);
    }
  });
});

describe('rabbitmq control plane after a lost connection', () => {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names);
    await deleteAppKeys(admin, names.splice(0));
  });

  it('a worker whose connection the server closed still hears cancels and pauses, and still sends events', async () => {
    const name = uniqueName('relink');
    names.push(name);
    const make = (): QueueTasks => {
      const app = new QueueTasks({ name, plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
      apps.push(app);
      return app;
    };
    const producer = make();
    await producer.start({ worker: false });
    const worker = make();
    const started = new Set<string>();
    worker.task({ name: 'slow', echo: true }, async (ctx) => {
      started.add(ctx.id);
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      throw new Error('aborted');
    });
    worker.task('quick', (n: number) => n);
    await worker.start();
    const seen: TaskEvent[] = [];
    producer.events.on('*', (e) => void seen.push(e));
    await producer.events.ready();
    const workerPlugin = fx.plugins(name)[1]!;
    expect(await closeConnectionByName(workerPlugin.connectionNames()[0]!)).toBe(1);
    // back: it takes tasks again, and its events reach the producer
    const first = await producer.addTask('quick', [1]);
    expect((await producer.wait(first.id, 15_000)).returning).toBe(1);
    await waitUntil(() => seen.some((e) => e.id === first.id && e.type === 'completed'), 'completed event after the relink');
    const slow = await producer.addTask('slow', []);
    await waitUntil(() => started.has(slow.id), 'slow task started');
    expect(await producer.cancel(slow.id, 'after relink')).toBe('running');
    expect(await producer.wait(slow.id, 5_000)).toMatchObject({ status: 'cancel', reason: 'after relink' });
    await producer.pause('default');
    const held = await producer.addTask('quick', [2]);
    await sleep(500);
    expect((await producer.get(held.id))?.status).toBe('new');
    await producer.resume('default');
    expect((await producer.wait(held.id, 5_000)).returning).toBe(2);
  });
});

/** Apps on RabbitMQ with Redis storage for one describe: stopped and cleaned up after each test. */
function redisStorageApps(): { names: string[]; make(name: string): QueueTasks } {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names);
    await deleteAppKeys(admin, names.splice(0));
  });
  const make = (name: string): QueueTasks => {
    const app = new QueueTasks({ name, plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  };
  return { names, make };
}

// What AMQP cannot reach by name: purge revokes through the records it deletes.
describe('rabbitmq purge with redis storage', () => {
  const { names, make } = redisStorageApps();

  it('drops a delayed task whose delay queue another process declared: a running worker drops it unrun when it comes due', async () => {
    const name = uniqueName('purge-far');
    names.push(name);
    let ran = 0;
    const worker = make(name);
    worker.task({ name: 'p', queue: 'pq' }, () => void ran++);
    worker.task({ name: 'o', queue: 'pq' }, () => 'kept');
    await worker.start();
    const producer = make(name);
    producer.task({ name: 'p', queue: 'pq' }, () => 1);
    await producer.start({ worker: false });
    const gone = await producer.addTask('p', [], { delay: 400 });
    // another process: its server purge cannot name the producer's delay queue
    const purger = make(name);
    await purger.start({ worker: false });
    expect(await purger.purge('pq')).toBe(1);
    expect(await purger.get(gone.id)).toBeUndefined();
    await sleep(800);
    const kept = await producer.addTask('o', []);
    expect((await worker.wait(kept.id, 10_000)).returning).toBe('kept');
    expect(ran).toBe(0);
    expect(await worker.get(gone.id)).toBeUndefined();
  });
});

// promote publishes a marked copy now; the delayed copy must come due and be dropped unrun.
describe('rabbitmq promote with redis storage', () => {
  const { names, make } = redisStorageApps();

  it('runs the promoted task once: a listening worker drops the delayed copy when it comes due', async () => {
    const name = uniqueName('promote-once');
    names.push(name);
    let ran = 0;
    const worker = make(name);
    worker.task('later', () => ++ran);
    await worker.start();
    const rec = await worker.addTask('later', [], { delay: 500 });
    expect(await worker.promote(rec.id)).toBe(true);
    expect((await worker.wait(rec.id, 10_000)).returning).toBe(1);
    await sleep(1_000);
    expect(ran).toBe(1);
    const stored = await worker.get(rec.id);
    expect(stored?.status).toBe('success');
    expect(stored?.attempts).toBe(1);
  });

  it('leaves no promote mark behind: dropped with the delayed copy, or at purge', async () => {
    const name = uniqueName('promote-marks');
    names.push(name);
    const marks = async (): Promise<number> => (await admin.hkeys(`qtasks:{${name}}:kv`)).filter((k) => k.startsWith('rabbitmq:promoted:')).length;
    const worker = make(name);
    worker.task({ name: 'later', queue: 'marks' }, (n: number) => n);
    worker.task({ name: 'parked', queue: 'parked' }, (n: number) => n);
    await worker.start({ queues: ['marks'] });
    const recs = await Promise.all(Array.from({ length: 5 }, (_, i) => worker.addTask('later', [i], { delay: 300 })));
    for (const rec of recs) expect(await worker.promote(rec.id)).toBe(true);
    expect(await marks()).toBe(5);
    for (const [i, rec] of recs.entries()) expect((await worker.wait(rec.id, 10_000)).returning).toBe(i);
    await waitUntil(async () => (await marks()) === 0, 'every delayed copy dropped and its mark deleted', 5_000);
    // a queue nobody consumes: the delayed copies are purged with it and never come to be dropped
    const parked = await Promise.all(Array.from({ length: 3 }, (_, i) => worker.addTask('parked', [i], { delay: 60_000 })));
    for (const rec of parked) expect(await worker.promote(rec.id)).toBe(true);
    expect(await marks()).toBe(3);
    expect(await worker.purge('parked')).toBe(3);
    expect(await marks()).toBe(0);
  });

  it('promotes a retrying task: the next attempt runs now, once, and the delayed retry copy is dropped', async () => {
    const name = uniqueName('promote-retry');
    names.push(name);
    const attempts: number[] = [];
    const worker = make(name);
    worker.task({ name: 'flaky', echo: true, retry: 1, retryDelayMs: 600 }, (ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('first fails');
      return 'second';
    });
    await worker.start();
    const rec = await worker.addTask('flaky', []);
    await waitUntil(async () => (await worker.get(rec.id))?.status === 'retry', 'retry record');
    expect(await worker.promote(rec.id)).toBe(true);
    expect((await worker.wait(rec.id, 10_000)).returning).toBe('second');
    await sleep(1_500);
    expect(attempts).toEqual([1, 2]);
    expect((await worker.get(rec.id))?.attempts).toBe(2);
  });

  it('a worker started after the promote runs the promoted copy once and drops the delayed one', async () => {
    const name = uniqueName('promote-late');
    names.push(name);
    const producer = make(name);
    producer.task('later', () => 1);
    await producer.start({ worker: false });
    const rec = await producer.addTask('later', [], { delay: 400 });
    expect(await producer.promote(rec.id)).toBe(true);
    expect(await producer.promote('no-such-task')).toBe(false);
    await sleep(800);
    let ran = 0;
    const worker = make(name);
    worker.task('later', () => ++ran);
    await worker.start();
    expect((await worker.wait(rec.id, 10_000)).returning).toBe(1);
    await sleep(500);
    expect(ran).toBe(1);
    expect((await worker.get(rec.id))?.status).toBe('success');
  });
});
