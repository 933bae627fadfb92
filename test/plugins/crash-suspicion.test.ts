/**
 * Who pays for a lost worker, with real worker processes: a handler that calls process.exit or
 * blocks its event loop past the lease is dead-lettered, and the healthy tasks that shared its
 * worker succeed (they run again alone, and the loss is not charged to them). Redis, and
 * RabbitMQ with Redis storage (RabbitMQ has no lease, so the blocking case is Redis only).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { TaskRecord } from '../../core/record.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { Supervisor, killAll, startWorkerProcess, type WorkerProcess } from '../support/worker-processes.js';
import { RabbitFixture, TEST_PREFIX } from './rabbitmq-helpers.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';
import { deleteAppKeys as deleteKeysOf } from '../../plugins/redis/admin.js';

const RESULTS_PREFIX = 'qtasks-suspect-results';
const fx = new RabbitFixture();
let admin: Redis;
const apps: QueueTasks[] = [];
const supervisors: Supervisor[] = [];
const children: WorkerProcess[] = [];
const redisNames: string[] = [];
const rabbitNames: string[] = [];

beforeAll(async () => {
  admin = await adminClient();
});
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  await killAll(children.splice(0));
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  await deleteAppKeys(admin, redisNames.splice(0));
  for (const n of rabbitNames) await deleteKeysOf(admin, n, RESULTS_PREFIX);
  await fx.cleanup(rabbitNames.splice(0));
});
afterAll(async () => {
  await admin?.quit();
  await fx.close();
});

function redisProducer(name: string): QueueTasks {
  redisNames.push(name);
  const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, prefix: PREFIX })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

function rabbitProducer(name: string): QueueTasks {
  rabbitNames.push(name);
  const app = new QueueTasks({
    name,
    plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false, prefix: RESULTS_PREFIX })],
    config: { logLevel: 'silent' },
    globals: false,
    sharedTasks: false,
  });
  apps.push(app);
  return app;
}

const redisEnv = (name: string, extra: Record<string, string> = {}): Record<string, string> => ({ QT_APP: name, QT_BROKER: 'redis', QT_LEASE_MS: '1000', ...extra });
const rabbitEnv = (name: string): Record<string, string> => ({ QT_APP: name, QT_BROKER: 'rabbitmq', QT_AMQP_PREFIX: TEST_PREFIX, QT_RESULTS_PREFIX: RESULTS_PREFIX });

/**
 * The poison task and three healthy ones are queued before any worker runs, so the first worker
 * claims all four and runs them together; the poison exits 400 ms in, the healthy ones need 1.5 s.
 */
async function exitNextToHealthy(producer: QueueTasks, env: Record<string, string>): Promise<void> {
  await producer.start({ worker: false });
  const poison = await producer.addTask('exit', [400]);
  const healthy = [];
  for (let i = 0; i < 3; i++) healthy.push(await producer.addTask('slow', [1_500]));
  const sup = new Supervisor({ ...env, QT_CONCURRENCY: '4' }, 5);
  supervisors.push(sup);
  const finals: TaskRecord[] = [];
  for (const h of healthy) finals.push(await producer.wait(h.id, 60_000));
  const dead = await producer.wait(poison.id, 60_000);
  // The first worker ran all four together.
  expect(new Set(sup.all[0]!.starts.map((s) => s.id))).toEqual(new Set([poison.id, ...healthy.map((h) => h.id)]));
  for (const f of finals) expect(f.status).toBe('success');
  expect(dead.status).toBe('dead');
  expect(dead.reason).toMatch(/lost while it ran alone/);
  // It ran twice, once in company and once alone, and took two workers down; never a third time.
  expect(sup.starts.filter((s) => s.id === poison.id).length).toBe(2);
  expect(sup.deaths).toBe(2);
  // Every later start of a healthy task was alone in its worker: no other task started between
  // it and the end of its worker, or it was the last thing that worker ran.
  for (const w of sup.all.slice(1)) {
    const ids = w.starts.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
  }
}

describe('crash suspicion: redis', () => {
  it('a handler that calls process.exit is dead-lettered; healthy tasks claimed with it succeed', { timeout: 90_000 }, async () => {
    const name = uniqueName('exit');
    await exitNextToHealthy(redisProducer(name), redisEnv(name));
  });

  it('a handler that blocks its event loop past the lease is dead-lettered; a well-behaved long task beside it succeeds', { timeout: 90_000 }, async () => {
    const name = uniqueName('block');
    const producer = redisProducer(name);
    await producer.start({ worker: false });
    const first = startWorkerProcess(redisEnv(name, { QT_CONCURRENCY: '2' }));
    children.push(first);
    await first.ready;
    const blocker = await producer.addTask('block', [5_000]);
    const good = await producer.addTask('slow', [4_000]);
    await waitUntil(() => first.starts.length === 2, 'the first worker to start both');
    // A second worker, to notice the leases the blocked one cannot renew.
    const second = startWorkerProcess(redisEnv(name, { QT_CONCURRENCY: '2' }));
    children.push(second);
    const done = await producer.wait(good.id, 60_000);
    const dead = await producer.wait(blocker.id, 60_000);
    expect(done.status).toBe('success');
    expect(done.returning).toBe('ok');
    expect(dead.status).toBe('dead');
    expect(dead.reason).toMatch(/lost while it ran alone/);
    const starts = [...first.starts, ...second.starts];
    // The blocker blocked twice (once with the good task, once alone), never a third time.
    expect(starts.filter((s) => s.id === blocker.id).length).toBe(2);
  });
});

describe('crash suspicion: rabbitmq with redis storage', () => {
  it('a handler that calls process.exit is dead-lettered; healthy tasks delivered with it succeed', { timeout: 90_000 }, async () => {
    const name = uniqueName('exit');
    await exitNextToHealthy(rabbitProducer(name), rabbitEnv(name));
  });
});
