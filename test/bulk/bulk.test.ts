/**
 * Bulk add on every broker: order, all-or-nothing checking before anything is sent, limits, and
 * (Redis) that a bulk add lands in few script calls.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BulkAddError, ErrorCodes, MAX_BULK_ITEMS, QueueTasks, type Plugin, type QTasksError } from '../../core/index.js';
import { RedisConnection } from '../../plugins/redis/connection.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

let admin: Redis;
const rabbit = new RabbitFixture();
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
  await rabbit.close();
});

interface BrokerCase {
  readonly name: string;
  plugins(app: string): Plugin[];
  cleanup(apps: readonly string[]): Promise<void>;
}
const brokers: BrokerCase[] = [
  { name: 'memory', plugins: () => [], cleanup: async () => undefined },
  { name: 'redis', plugins: () => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })], cleanup: (apps) => deleteAppKeys(admin, apps) },
  { name: 'rabbitmq', plugins: (app) => [rabbit.plugin(app)], cleanup: (apps) => rabbit.cleanup(apps) },
];

const apps: QueueTasks[] = [];
const names: Array<[BrokerCase, string]> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  for (const [broker, name] of names.splice(0)) await broker.cleanup([name]);
});

function makeApp(broker: BrokerCase, config: Record<string, unknown> = {}, name = uniqueName('bulk')): QueueTasks {
  names.push([broker, name]);
  const app = new QueueTasks({ name, plugins: broker.plugins(name), config: { logLevel: 'silent', ...config }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

describe.each(brokers)('bulk add on $name', (broker) => {
  it('1,000 bulk-added tasks come back as records in order and run in order', async () => {
    const app = makeApp(broker, { concurrency: 1 });
    const seen: number[] = [];
    const step = app.task('step', (n: number, tag: string) => {
      seen.push(n);
      return tag;
    });
    await app.start();
    const calls = Array.from({ length: 1_000 }, (_, i): [number, string] => [i, `t${i}`]);
    const records = await step.addTasks(calls);
    expect(records.map((r) => r.args)).toEqual(calls);
    expect(records.every((r) => r.status === 'new' && r.name === 'step')).toBe(true);
    expect(new Set(records.map((r) => r.id)).size).toBe(1_000);
    await waitUntil(() => seen.length === 1_000, 'every task ran', 30_000);
    expect(seen).toEqual(calls.map(([n]) => n));
    const last = await app.wait(records[999]!.id, 10_000);
    expect(last.returning).toBe('t999');
  });

  it('a bad item fails the whole call, naming its index, and nothing is enqueued', async () => {
    const app = makeApp(broker, { concurrency: 1 });
    const seen: number[] = [];
    const step = app.task('step', (n: number) => void seen.push(n));
    const other = app.task('other', () => 'other');
    await app.start();
    const bad = [[1], [2], [new Date(0)], [4]] as unknown as Array<[number]>;
    const err = await rejection(step.addTasks(bad));
    expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(err.message).toContain('bulk add item 2');
    expect(err.message).toContain('nothing was sent');
    const mixed = await rejection(app.addTasks([{ name: 'step', args: [1] }, { name: 'step', args: [2], options: { delay: -1 } }]));
    expect(mixed.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(mixed.message).toContain('bulk add item 1');
    // A task sent afterwards runs first of all: nothing of the failed calls was in the queue.
    expect((await other.addTask([], { timeout: 10_000 })).returning).toBe('other');
    expect(seen).toEqual([]);
  });

  it('adds several tasks in one app.addTasks call, with per-item options', async () => {
    const app = makeApp(broker);
    app.task('a', (s: string) => `a:${s}`);
    app.task('b', (n: number) => n * 2);
    await app.start();
    const records = await app.addTasks([
      { name: 'a', args: ['x'] },
      { name: 'b', args: [21], options: { priority: 1 } },
    ]);
    expect(records.map((r) => r.name)).toEqual(['a', 'b']);
    expect(records[1]!.priority).toBe(1);
    expect((await app.wait(records[0]!.id, 10_000)).returning).toBe('a:x');
    expect((await app.wait(records[1]!.id, 10_000)).returning).toBe(42);
  });

  it('0 items: an empty list back, nothing sent', async () => {
    const app = makeApp(broker);
    app.task('t', () => 1);
    await app.start({ worker: false });
    const publish = vi.spyOn(app.broker, 'publish');
    expect(await app.addTasks([])).toEqual([]);
    expect(publish).not.toHaveBeenCalled();
  });
});

describe('bulk add limits and partial failures', () => {
  const memory = brokers[0]!;

  it(`takes ${MAX_BULK_ITEMS} items in one call, and refuses one more`, async () => {
    const app = makeApp(memory);
    const t = app.task('t', (n: number) => n);
    await app.start({ worker: false });
    const over = await rejection(t.addTasks(Array.from({ length: MAX_BULK_ITEMS + 1 }, (_, i): [number] => [i])));
    expect(over.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(over.message).toContain(`at most ${MAX_BULK_ITEMS} per call`);
    const records = await t.addTasks(Array.from({ length: MAX_BULK_ITEMS }, (_, i): [number] => [i]));
    expect(records.length).toBe(MAX_BULK_ITEMS);
    expect(records[MAX_BULK_ITEMS - 1]!.args).toEqual([MAX_BULK_ITEMS - 1]);
  }, 60_000);

  it('once sending started, items fail on their own: BulkAddError lists which, the others are sent', async () => {
    const app = makeApp(memory, { concurrency: 1 });
    const t = app.task('t', (n: number) => n);
    app.hooks.broker.beforePublish.tapPromise('refuse-2', async (message) => {
      if (message.args[0] === 2) throw new Error('refused by a plugin');
      return message;
    });
    await app.start();
    const err = await rejection(t.addTasks([[1], [2], [3]]));
    expect(err).toBeInstanceOf(BulkAddError);
    const bulk = err as BulkAddError;
    expect(bulk.code).toBe(ErrorCodes.BULK_ADD_FAILED);
    expect(bulk.failures.map((f) => f.index)).toEqual([1]);
    expect(bulk.records[1]).toBeUndefined();
    for (const i of [0, 2]) expect((await app.wait(bulk.records[i]!.id, 10_000)).returning).toBe(i + 1);
  });
});

describe('bulk add on redis: round trips', () => {
  it('1,000 tasks land in a few script calls, not one per task', async () => {
    const app = makeApp(brokers[1]!);
    const t = app.task('t', (n: number) => n);
    await app.start({ worker: false });
    // Every script call of the plugin goes through runArgs (one EVALSHA each): count the enqueues.
    const run = vi.spyOn(RedisConnection.prototype, 'runArgs');
    await t.addTasks(Array.from({ length: 1_000 }, (_, i): [number] => [i]));
    const enqueues = run.mock.calls.filter(([script]) => script === 'qtasksEnqueue').length;
    expect(enqueues).toBeGreaterThan(0);
    expect(enqueues).toBeLessThanOrEqual(4);
  });
});
