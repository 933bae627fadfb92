/**
 * ctx.log: lines stored with the record and returned by app.get, bounded per attempt, on every
 * broker (each stores records its own way).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, type Plugin } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName } from '../contracts/helpers.js';
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
  // RabbitMQ keeps no records of its own: results travel back over reply-to, so app.get sees
  // what this process waited for.
  { name: 'rabbitmq', plugins: (app) => [rabbit.plugin(app)], cleanup: (apps) => rabbit.cleanup(apps) },
];

const apps: QueueTasks[] = [];
const names: Array<[BrokerCase, string]> = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  for (const [broker, name] of names.splice(0)) await broker.cleanup([name]);
});

function makeApp(broker: BrokerCase): QueueTasks {
  const name = uniqueName('logs');
  names.push([broker, name]);
  const app = new QueueTasks({ name, plugins: broker.plugins(name), config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 20 }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

describe.each(brokers)('task logs on $name', (broker) => {
  it('stores ctx.log lines with the record, returned by app.get; the latest maxLogLines are kept', async () => {
    const app = makeApp(broker);
    const job = app.task({ name: 'job', echo: true, maxLogLines: 3 }, (ctx, n: number) => {
      ctx.log('starting', n, { big: true });
      for (let i = 1; i <= 4; i++) ctx.log(`step ${i}`);
      return n;
    });
    const failing = app.task({ name: 'failing', echo: true }, (ctx) => {
      ctx.log('about to fail', new TypeError('nope'));
      throw new Error('failed');
    });
    const quiet = app.task('quiet', () => 1);
    await app.start();
    const rec = await job.addTask([7], { timeout: 10_000 });
    expect(rec.logs).toEqual(['step 2', 'step 3', 'step 4']);
    expect((await app.get(rec.id))?.logs).toEqual(['step 2', 'step 3', 'step 4']);
    const failed = await failing.addTask([], { timeout: 10_000 });
    expect(failed.status).toBe('error');
    expect((await app.get(failed.id))?.logs).toEqual(['about to fail TypeError: nope']);
    const none = await quiet.addTask([], { timeout: 10_000 });
    expect((await app.get(none.id))?.logs).toBeUndefined();
  });
});

describe('task logs: options', () => {
  it('maxLogLines: 0 keeps nothing; a negative or fractional value is refused', async () => {
    const app = makeApp(brokers[0]!);
    const job = app.task({ name: 'job', echo: true, maxLogLines: 0 }, (ctx) => ctx.log('dropped'));
    expect(() => app.task({ name: 'bad', maxLogLines: -1 }, () => 1)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    expect(() => app.task({ name: 'bad2', maxLogLines: 1.5 }, () => 1)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    await app.start();
    expect((await job.addTask([], { timeout: 5_000 })).logs).toBeUndefined();
  });

  it('cuts a very long line', async () => {
    const app = makeApp(brokers[0]!);
    const job = app.task({ name: 'job', echo: true }, (ctx) => ctx.log('x'.repeat(5_000)));
    await app.start();
    const line = (await job.addTask([], { timeout: 5_000 })).logs![0]!;
    expect(line.length).toBe(2_001);
    expect(line.endsWith('…')).toBe(true);
  });
});
