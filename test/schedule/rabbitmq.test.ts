/**
 * Schedules with RabbitMQ (issue 15): they need a GlobalConfig every process shares, so they run
 * with redis({ broker: false }) beside it and fail clearly without one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes } from '../../core/errors.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';

const fx = new RabbitFixture();
const names: string[] = [];
afterAll(async () => {
  await fx.cleanup(names);
  await fx.close();
  const admin = await adminClient();
  await deleteAppKeys(admin, names);
  admin.disconnect();
});

describe('schedules on RabbitMQ', () => {
  it('fire through the GlobalConfig of redis({ broker: false })', async () => {
    const name = uniqueName('sched-rmq');
    names.push(name);
    const app = new QueueTasks({ name, plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    const ran: string[] = [];
    app.task({ name: 'tick', echo: true }, (ctx) => void ran.push(ctx.id));
    await app.schedule('beat', { every: 100 }, 'tick', []);
    await app.start();
    try {
      await waitUntil(() => ran.length >= 3, 'three fires', 10_000);
      const times = ran.map((id) => Number(id.slice('sched:beat:'.length)));
      for (const t of times) expect(t % 100).toBe(0);
      expect(new Set(times).size).toBe(times.length);
      expect((await app.schedules())[0]!.last).toBeGreaterThan(0);
    } finally {
      await app.stop();
    }
  });

  it('fail clearly without a shared GlobalConfig, naming redis()', async () => {
    const name = uniqueName('sched-rmq');
    names.push(name);
    const app = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    app.task('tick', (n: number) => n);
    await app.schedule('r', { every: 1_000 }, 'tick', [1]);
    const err = await app.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    await app.stop();
    expect(err).toMatchObject({ code: ErrorCodes.UNSUPPORTED });
    expect(String((err as Error).message)).toContain('redis({ broker: false })');

    // Started without schedules, the first schedule() call fails the same way.
    const later = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    later.task('tick', (n: number) => n);
    await later.start({ worker: false });
    try {
      await expect(later.schedule('r', { every: 1_000 }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.UNSUPPORTED });
    } finally {
      await later.stop();
    }
  });
});
