/**
 * The RabbitMQ plugin against the real server on 127.0.0.1:5672: the broker conformance suite
 * with memory storage, the reply-to results mode, ownership, isolation and connection loss.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { Plugin } from '../../core/plugin.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { rabbitmq } from '../../plugins/rabbitmq/index.js';
import { Topology } from '../../plugins/rabbitmq/topology.js';
import { brokerConformance } from '../contracts/index.js';
import { gate, hangingTask, sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { AMQP_URL, RabbitFixture, closeConnectionByName } from './rabbitmq-helpers.js';

const fx = new RabbitFixture();
afterAll(() => fx.close());

// Apps with the same name share records, as the producer and workers of one app share a storage.
const backends = new Map<string, MemoryBackend>();
const backendOf = (name: string): MemoryBackend => {
  let b = backends.get(name);
  if (b === undefined) backends.set(name, (b = new MemoryBackend()));
  return b;
};

brokerConformance({
  name: 'rabbitmq broker + memory storage',
  plugins: (name) => [fx.plugin(name), memory({ backend: backendOf(name), broker: false })],
  injectMalformed: (name, queue, payload) => fx.inject(name, queue, payload),
  // One AMQP consumer per queue, each with its own prefetch: priorities hold within a queue.
  lacks: { priorityAcrossQueues: 'RabbitMQ delivers each queue on its own; priority holds within a queue' },
  cleanup: async (names) => {
    await fx.cleanup(names);
    for (const n of names) backends.delete(n);
  },
});

const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 600, retryDelayMs: 20, retryMaxDelayMs: 100, stopTimeoutMs: 2_000, heartbeatMs: 500 };

function harness() {
  const apps: QueueTasks[] = [];
  const names = new Set<string>();
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup([...names]);
    names.clear();
  });
  return (name: string, plugins: Plugin[], config: Partial<Config> = {}): QueueTasks => {
    names.add(name);
    const app = new QueueTasks({ name, plugins, config: { ...BASE, ...config }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  };
}

describe('rabbitmq alone: results over direct reply-to', () => {
  const make = harness();

  it('uses the reply storage only when no other storage is configured', async () => {
    const [a, b, c] = [uniqueName('rs'), uniqueName('rs'), uniqueName('rs')];
    const alone = make(a, [fx.plugin(a)]);
    const withMemory = make(b, [fx.plugin(b), memory({ broker: false })]);
    const forced = make(c, [memory({ broker: false }), fx.plugin(c, { results: 'reply' })]);
    await Promise.all([alone.start({ worker: false }), withMemory.start({ worker: false }), forced.start({ worker: false })]);
    expect(alone.storage.name).toBe('rabbitmq-reply');
    expect(withMemory.storage.name).toBe('memory');
    expect(forced.storage.name).toBe('rabbitmq-reply');
    expect(alone.broker.name).toBe('rabbitmq');
  });

  it('a producer in one app awaits results computed by a worker in another', async () => {
    const name = uniqueName('rpc');
    const producer = make(name, [fx.plugin(name)]);
    producer.task('square', (n: number) => n * n);
    await producer.start({ worker: false });
    const worker = make(name, [fx.plugin(name)], { concurrency: 4 });
    worker.task('square', (n: number) => n * n);
    await worker.start();
    const records = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.addTask('square', [i], { timeout: 10_000 })));
    expect(records.map((r) => r.returning)).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
    expect(records.every((r) => r.status === 'success' && r.attempts === 1)).toBe(true);
    // What the producer has seen, get answers.
    expect((await producer.get(records[5]!.id))?.returning).toBe(25);
  });

  it('hands a result with TTL 0 to its waiter and keeps it nowhere', async () => {
    const name = uniqueName('ttl0');
    const producer = make(name, [fx.plugin(name)]);
    await producer.start({ worker: false });
    const worker = make(name, [fx.plugin(name)]);
    worker.task({ name: 'once', resultTtlMs: 0 }, (n: number) => n + 1);
    await worker.start();
    const done = await producer.addTask('once', [1], { timeout: 10_000 });
    expect(done.returning).toBe(2);
    expect(await producer.get(done.id)).toBeUndefined();
    expect(await worker.get(done.id)).toBeUndefined();
  });

  it('buffers a reply that arrives before wait() is called', async () => {
    const name = uniqueName('buf');
    const producer = make(name, [fx.plugin(name)]);
    await producer.start({ worker: false });
    const worker = make(name, [fx.plugin(name)]);
    let ran = 0;
    const release = gate();
    worker.task('t', async () => {
      await release.promise;
      return ++ran;
    });
    await worker.start();
    // addTask with a timeout marks the message for a reply; the task is held past that timeout.
    const err = await producer.addTask('t', [], { timeout: 50 }).catch((e: unknown) => e);
    expect((err as QTasksError).code).toBe(ErrorCodes.WAIT_TIMEOUT);
    const id = (err as { taskId: string }).taskId;
    release.open();
    await waitUntil(() => ran === 1, 'task ran');
    await waitUntil(async () => (await producer.get(id))?.status === 'success', 'reply received');
    expect((await producer.wait(id, 1)).returning).toBe(1);
  });

  it('carries failures, retries and dead letters back to the waiting producer', async () => {
    const name = uniqueName('fail');
    const producer = make(name, [fx.plugin(name)]);
    await producer.start({ worker: false });
    const worker = make(name, [fx.plugin(name)]);
    let calls = 0;
    worker.task({ name: 'flaky', retry: 2 }, () => {
      if (++calls < 3) throw new Error(`boom ${calls}`);
      return 'ok';
    });
    worker.task('bad', () => {
      throw new Error('always');
    });
    await worker.start();
    const flaky = await producer.addTask('flaky', [], { timeout: 10_000 });
    expect(flaky.status).toBe('success');
    expect(flaky.attempts).toBe(3);
    const bad = await producer.addTask('bad', [], { timeout: 10_000 });
    expect(bad.status).toBe('error');
    expect(bad.error?.message).toBe('always');
    const unknown = await producer.addTask('nope', [], { timeout: 10_000 });
    expect(unknown.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
  });

  it('a waiter times out with the task id when nobody works', async () => {
    const name = uniqueName('idle');
    const producer = make(name, [fx.plugin(name)]);
    await producer.start({ worker: false });
    const err = await producer.addTask('t', [], { timeout: 200 }).catch((e: unknown) => e);
    expect((err as QTasksError).code).toBe(ErrorCodes.WAIT_TIMEOUT);
    expect(typeof (err as { taskId?: unknown }).taskId).toBe('string');
  });

  it('redelivers, counts attempts and dead-letters across worker apps (records from the worker that finished)', async () => {
    const name = uniqueName('rl');
    const first = make(name, [fx.plugin(name)], { stopTimeoutMs: 50, extraDeliveries: 0 });
    const started = hangingTask(first);
    await first.start();
    const rec = await first.addTask('t', []);
    await started;
    await first.stop();
    // Lost once: it runs again, alone, and is lost again. The reply storage cannot keep the
    // suspicion mark across apps, so the backstop (losses over the limit) dead-letters it.
    const second = make(name, [fx.plugin(name)], { stopTimeoutMs: 50, extraDeliveries: 0 });
    const again = hangingTask(second);
    await second.start();
    await again;
    await second.stop();
    const third = make(name, [fx.plugin(name)], { extraDeliveries: 0 });
    third.task('t', () => 'never');
    await third.start();
    const done = await third.wait(rec.id, 15_000);
    expect(done.status).toBe('dead');
    expect(done.reason).toMatch(/lost 2 times/);
    const letter = await waitUntil(async () => (await third.broker.deadLetters(10)).find((l) => l.id === rec.id), 'dead letter');
    expect(letter.reason).toMatch(/lost 2 times/);
  });
});

describe('rabbitmq plugin: options, ownership, isolation, recovery', () => {
  const make = harness();

  it('rejects url and connection together, neither, and bad options', () => {
    expect(() => rabbitmq({} as never)).toThrow(QTasksError);
    expect(() => rabbitmq({ url: AMQP_URL, connection: {} as never })).toThrow(/exactly one/);
    expect(() => rabbitmq({ url: 'http://x' })).toThrow(/amqp/);
    expect(() => rabbitmq({ url: AMQP_URL, maxPriority: 300 })).toThrow(/maxPriority/);
    expect(() => rabbitmq({ url: AMQP_URL, classicQueueVersion: 3 as never })).toThrow(/classicQueueVersion/);
    expect(() => rabbitmq({ url: AMQP_URL, queueType: 'stream' as never })).toThrow(/queueType/);
    try {
      rabbitmq({ url: AMQP_URL, prefetch: 0 });
      expect.unreachable();
    } catch (err) {
      expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_OPTION);
    }
  });

  it('fails start loudly when the server is not there', async () => {
    const app = make(uniqueName('down'), [rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:1' })], { startTimeoutMs: 5_000 });
    await expect(app.start()).rejects.toThrow();
    expect(app.state).toBe('stopped');
  });

  it('never closes a connection passed in; closes the one it opened', async () => {
    const conn = await amqp.connect(AMQP_URL);
    let closed = false;
    conn.on('close', () => (closed = true));
    try {
      const name = uniqueName('own');
      const app = make(name, [fx.plugin(name, { connection: conn }), memory({ broker: false })]);
      const t = app.task('t', () => 'ok');
      await app.start();
      expect((await t.addTask([], { timeout: 10_000 })).returning).toBe('ok');
      await app.stop();
      expect(closed).toBe(false);
      const ch = await conn.createChannel(); // still usable
      await ch.close();

      const owned = uniqueName('own');
      const plugin = fx.plugin(owned);
      const app2 = make(owned, [plugin, memory({ broker: false })]);
      await app2.start();
      const [cname] = plugin.connectionNames();
      await waitUntil(async () => (await listedConnections()).includes(cname!), 'owned connection listed');
      await app2.stop();
      await waitUntil(async () => !(await listedConnections()).includes(cname!), 'owned connection closed');
    } finally {
      await conn.close().catch(() => undefined);
    }
  });

  it('keeps two apps apart: neither sees the other’s tasks', async () => {
    const a = uniqueName('iso-a');
    const b = uniqueName('iso-b');
    const seenA: string[] = [];
    const seenB: string[] = [];
    const appA = make(a, [fx.plugin(a), memory({ broker: false })]);
    const appB = make(b, [fx.plugin(b), memory({ broker: false })]);
    appA.task('t', (x: string) => void seenA.push(x));
    appB.task('t', (x: string) => void seenB.push(x));
    await Promise.all([appA.start(), appB.start()]);
    await Promise.all([appA.addTask('t', ['a1'], { timeout: 10_000 }), appB.addTask('t', ['b1'], { timeout: 10_000 }), appA.addTask('t', ['a2'], { timeout: 10_000 })]);
    expect(seenA.sort()).toEqual(['a1', 'a2']);
    expect(seenB).toEqual(['b1']);
    expect(fx.plugins(a)[0]!.declaredQueues().every((q) => q.includes(a))).toBe(true);
  });

  it('maps priorities into the AMQP range and rounds delays up into shared buckets', () => {
    const topo = new Topology({ prefix: 'p', appName: 'a', queueType: 'classic', maxPriority: 5, classicVersion: 2 });
    expect([-50, -0.5, 0, 0.5, 1, 2, 3, 4, 7, 8, 1e6].map((p) => topo.amqpPriority(p))).toEqual([5, 5, 4, 3, 3, 2, 2, 1, 1, 0, 0]);
    const wide = new Topology({ prefix: 'p', appName: 'a', queueType: 'classic', maxPriority: 10, classicVersion: 2 });
    expect([-1, 0, 1, 3, 7, 15, 255, 256].map((p) => wide.amqpPriority(p))).toEqual([10, 9, 8, 7, 6, 5, 1, 0]);
    expect(new Topology({ prefix: 'p', appName: 'a', queueType: 'quorum', maxPriority: 5, classicVersion: 2 }).amqpPriority(3)).toBeUndefined();
    expect(new Topology({ prefix: 'p', appName: 'a', queueType: 'classic', maxPriority: 0, classicVersion: 2 }).amqpPriority(3)).toBeUndefined();
    for (const ms of [1, 20, 31, 32, 33, 400, 1_000, 61_234, 3_600_000]) {
      const b = Topology.delayBucket(ms);
      expect(b).toBeGreaterThanOrEqual(ms);
      expect(b).toBeLessThanOrEqual(ms * (1 + 1 / 16));
    }
    expect(Topology.delayBucket(1_000)).toBe(Topology.delayBucket(1_010));
  });

  it('quorum queues: results, retries, and lost deliveries counted through x-delivery-count', async () => {
    const name = uniqueName('quorum');
    const backend = new MemoryBackend();
    const plugins = (): Plugin[] => [fx.plugin(name, { queueType: 'quorum' }), memory({ backend, broker: false })];
    const first = make(name, plugins(), { stopTimeoutMs: 50 });
    let calls = 0;
    first.task({ name: 'flaky', retry: 1 }, () => {
      if (++calls < 2) throw new Error('once');
      return 'ok';
    });
    const started = hangingTask(first, 'hang');
    await first.start();
    const flaky = await first.addTask('flaky', [], { timeout: 10_000 });
    expect(flaky.status).toBe('success');
    expect(flaky.attempts).toBe(2);
    const rec = await first.addTask('hang', [], { priority: 3 });
    await started;
    await first.stop();
    const second = make(name, plugins());
    const attempts: number[] = [];
    second.task({ name: 'hang', echo: true }, (ctx) => void attempts.push(ctx.attempt));
    await second.start();
    const done = await second.wait(rec.id, 15_000);
    expect(done.status).toBe('success');
    expect(attempts).toEqual([2]);
  });

  it('resumes after the server closes its connection mid-processing; nothing is lost', async () => {
    const name = uniqueName('loss');
    const plugin = fx.plugin(name);
    const app = make(name, [plugin, memory({ broker: false })], { concurrency: 5 });
    const runs = new Map<number, number>();
    const t = app.task('t', async (i: number) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await sleep(5);
      return i;
    });
    await app.start();
    const recs = await Promise.all(Array.from({ length: 200 }, (_, i) => t.addTask([i])));
    await waitUntil(() => runs.size >= 20, 'processing under way');
    const [cname] = plugin.connectionNames();
    expect(await closeConnectionByName(cname!)).toBe(1);
    // A publish during the outage waits for the new connection instead of failing or vanishing.
    const during = await t.addTask([1_000]);
    recs.push(during);
    const finals = await Promise.all(recs.map((r) => app.wait(r.id, 20_000)));
    expect(finals.every((r) => r.status === 'success')).toBe(true);
    expect(finals.map((r) => r.returning)).toEqual([...Array.from({ length: 200 }, (_, i) => i), 1_000]);
    expect(runs.size).toBe(201);
    // The connection really was replaced (same name, new server-side connection).
    await waitUntil(async () => (await listedConnections()).includes(cname!), 'reconnected');
  });

  it('follows a passed-in amqplib recovering connection: new channels and consumers after it reconnects', async () => {
    const name = uniqueName('recov');
    const cname = `${name}-user-connection`;
    const conn = await amqp.connect(AMQP_URL, { clientProperties: { connection_name: cname }, recovery: { initialDelay: 50, maxDelay: 500 } });
    conn.on('error', () => undefined);
    try {
      const app = make(name, [fx.plugin(name, { connection: conn }), memory({ broker: false })]);
      const seen = new Set<number>();
      const t = app.task('t', async (i: number) => {
        seen.add(i);
        await sleep(5);
        return i;
      });
      await app.start();
      const recs = await Promise.all(Array.from({ length: 60 }, (_, i) => t.addTask([i])));
      await waitUntil(() => seen.size >= 10, 'processing under way');
      expect(await closeConnectionByName(cname)).toBe(1);
      recs.push(await t.addTask([60]));
      const finals = await Promise.all(recs.map((r) => app.wait(r.id, 20_000)));
      expect(finals.every((r) => r.status === 'success')).toBe(true);
      expect(seen.size).toBe(61);
      await app.stop();
      // Still the user's: the plugin did not close it.
      const ch = await conn.createChannel();
      await ch.close();
    } finally {
      await conn.close().catch(() => undefined);
    }
  });

  it('a publish that cannot reach a server within publishTimeoutMs fails with ConnectionClosedError', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const name = uniqueName('gone');
    const app = make(name, [fx.plugin(name, { connection: conn, publishTimeoutMs: 300 }), memory({ broker: false })]);
    await app.start({ worker: false });
    await conn.close(); // a plain connection we do not own cannot come back
    const err = await app.addTask('t', []).catch((e: unknown) => e);
    expect((err as QTasksError).code).toBe(ErrorCodes.CONNECTION_CLOSED);
  });

  it('holds publishes while the connection is blocked and releases them on unblock', async () => {
    const name = uniqueName('blk');
    const conn = await amqp.connect(AMQP_URL);
    try {
      const app = make(name, [fx.plugin(name, { connection: conn, publishTimeoutMs: 5_000 }), memory({ broker: false })]);
      await app.start({ worker: false });
      // RabbitMQ sends connection.blocked on a resource alarm; raising one would stop every
      // other user of this shared server, so the event is emitted on the real connection.
      conn.emit('blocked', 'test alarm');
      let resolved = false;
      const pending = app.addTask('t', []).then((r) => ((resolved = true), r));
      await sleep(200);
      expect(resolved).toBe(false);
      conn.emit('unblocked');
      expect((await pending).status).toBe('new');
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});

async function listedConnections(): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('rabbitmqctl', ['-q', 'list_connections', 'client_properties'], { maxBuffer: 16 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}
