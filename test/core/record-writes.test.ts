/**
 * Batched record writes (core/record-writes.ts): with a broker that keeps no records, the kernel
 * groups the writes of one event-loop turn into one `saveMany` call when the storage offers it,
 * keeps per-record fencing results, and still stores each record before telling the broker.
 * Real servers: RabbitMQ as the broker, Redis as the storage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { QueueTasks } from '../../core/app.js';
import type { ComponentContext, RecordWrite, ReserveOptions, SaveOptions, Storage } from '../../core/contracts.js';
import { definePlugin } from '../../core/plugin.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import { RecordWrites } from '../../core/record-writes.js';
import { RedisConnection } from '../../plugins/redis/connection.js';
import { RedisStorage } from '../../plugins/redis/storage.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

/** A Redis storage that counts its calls; `batched: false` hides saveMany (the single path). */
class CountingStorage implements Storage {
  readonly name = 'counting-redis';
  readonly inner = new RedisStorage(new RedisConnection({ url: REDIS_URL, prefix: PREFIX }));
  saves = 0;
  batches: number[] = [];
  readonly saveMany: ((writes: readonly RecordWrite[]) => Promise<boolean[]>) | undefined;

  constructor(batched: boolean) {
    this.saveMany = batched
      ? async (writes) => {
          this.batches.push(writes.length);
          return this.inner.saveMany(writes);
        }
      : undefined;
  }

  get calls(): number {
    return this.saves + this.batches.length;
  }

  start(ctx: ComponentContext): Promise<void> {
    return this.inner.start(ctx);
  }
  save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    this.saves++;
    return this.inner.save(record, options);
  }
  get(id: string): Promise<TaskRecord | undefined> {
    return this.inner.get(id);
  }
  reserve(record: TaskRecord, options: ReserveOptions): Promise<string | undefined> {
    return this.inner.reserve(record, options);
  }
  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    return this.inner.waitFinal(id, timeoutMs);
  }
  prepareWait(): Promise<void> {
    return this.inner.prepareWait();
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
}

const fx = new RabbitFixture();
let admin: Redis;
const names: string[] = [];
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await fx.cleanup(names);
  await deleteAppKeys(admin, names);
  await admin.quit();
  await fx.close();
});

async function runBurst(storage: CountingStorage, tasks: number): Promise<TaskRecord[]> {
  const name = uniqueName('batch');
  names.push(name);
  const app = new QueueTasks({
    name,
    plugins: [fx.plugin(name), definePlugin({ name: 'counting', apply: (a) => void a.hooks.storage.provide.tap('counting', () => storage) })],
    config: { logLevel: (process.env.QLOG ?? 'silent') as 'silent', concurrency: 20 },
    globals: false,
    sharedTasks: false,
  });
  app.task('double', (n: number) => n * 2);
  await app.start();
  try {
    expect(app.storage).toBe(storage);
    const added = await app.addTasks(Array.from({ length: tasks }, (_, i) => ({ name: 'double', args: [i] })));
    await waitUntil(async () => (await Promise.all(added.map((r) => storage.get(r.id)))).every((r) => r !== undefined && r.status !== TaskStatus.NEW && r.status !== TaskStatus.PROCESS), 'every task to finish', 20_000, 100);
    return await Promise.all(added.map(async (r) => (await storage.get(r.id))!));
  } finally {
    await app.stop();
  }
}

describe('batched record writes (rabbitmq broker + redis storage)', () => {
  it('groups the writes of a burst into saveMany calls: far fewer than three round trips per task', async () => {
    const storage = new CountingStorage(true);
    const records = await runBurst(storage, 60);
    expect(records.map((r) => r.returning)).toEqual(Array.from({ length: 60 }, (_, i) => i * 2));
    // 60 tasks write 180 records (new, process, outcome); one call each would be 180.
    expect(storage.batches.some((n) => n > 1)).toBe(true);
    expect(storage.batches.reduce((a, b) => a + b, 0) + storage.saves).toBe(180);
    expect(storage.calls).toBeLessThan(90);
  });

  it('keeps one save per record for a storage without saveMany', async () => {
    const storage = new CountingStorage(false);
    const records = await runBurst(storage, 10);
    expect(records.every((r) => r.status === TaskStatus.SUCCESS)).toBe(true);
    expect(storage.saves).toBe(30);
  });
});

describe('RecordWrites', () => {
  const record = (id: string, attempts: number): TaskRecord => ({ id, name: 't', queue: 'q', args: [], priority: 0, status: TaskStatus.PROCESS, attempts, createdAt: 1, updatedAt: 1 });

  it('answers each writer with its own fencing result, in one call per turn', async () => {
    const seen: string[][] = [];
    const storage = { saveMany: async (w: readonly RecordWrite[]) => (seen.push(w.map((x) => x.record.id)), w.map((x) => x.record.attempts > 1)) } as unknown as Storage;
    const writes = new RecordWrites(storage);
    const results = await Promise.all([writes.save(record('a', 2), { ttlMs: 1 }), writes.save(record('b', 1), { ttlMs: 1 }), writes.save(record('c', 3), { ttlMs: 1 })]);
    expect(results).toEqual([true, false, true]);
    expect(seen).toEqual([['a', 'b', 'c']]);
  });

  it('rejects every write of a failed batch, and a batch answered with the wrong count', async () => {
    const failing = new RecordWrites({ name: 'f', saveMany: async () => Promise.reject(new Error('down')) } as unknown as Storage);
    const failed = await Promise.allSettled([failing.save(record('a', 1), { ttlMs: 1 }), failing.save(record('b', 1), { ttlMs: 1 })]);
    expect(failed.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    const short = new RecordWrites({ name: 'short', saveMany: async () => [true] } as unknown as Storage);
    await expect(Promise.all([short.save(record('a', 1), { ttlMs: 1 }), short.save(record('b', 1), { ttlMs: 1 })])).rejects.toThrow(/saveMany of 2 records answered 1 results/);
  });
});
