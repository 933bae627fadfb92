/**
 * addTask with an id on a broker that keeps no records, over a storage with `reservePublish`
 * (docs/decisions.md, Flow control): a reservation whose publisher died before publishing is
 * waited out and taken over, one confirmed meanwhile answers as a duplicate, and a publish that
 * failed releases the id at once. Memory broker + separate memory storage, and RabbitMQ + Redis
 * storage; real servers.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import type { Plugin } from '../../core/plugin.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { refusingBroker } from '../support/refusing-broker.js';

const fx = new RabbitFixture();
const redisApps: string[] = [];
afterAll(async () => {
  await fx.close();
  const admin = await adminClient();
  await deleteAppKeys(admin, redisApps);
  admin.disconnect();
});

const SETUPS = [
  { name: 'memory broker + memory storage', plugins: (): Plugin[] => [memory({ name: 'memory-broker', storage: false, backend: new MemoryBackend() }), memory({ name: 'memory-storage', broker: false, backend: new MemoryBackend() })] },
  { name: 'rabbitmq + redis storage', plugins: (app: string): Plugin[] => [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] },
];

const BASE: Partial<Config> = { logLevel: 'silent', stopTimeoutMs: 2_000 };

/** The record a publisher reserved for `id` before it died (what enqueue stores). */
function reserved(id: string, args: unknown[]): TaskRecord {
  const now = Date.now();
  return { id, name: 't', queue: 'default', args, priority: 0, status: TaskStatus.NEW, attempts: 0, createdAt: now, updatedAt: now };
}

describe.each(SETUPS)('an id reserved and not published, on $name', (setup) => {
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names.splice(0));
  });

  async function started(): Promise<{ app: QueueTasks; runs: unknown[][] }> {
    const name = uniqueName('unconfirmed');
    names.push(name);
    redisApps.push(name);
    const app = new QueueTasks({ name, plugins: setup.plugins(name), config: BASE, globals: false, sharedTasks: false });
    apps.push(app);
    const runs: unknown[][] = [];
    app.task('t', (...args: unknown[]) => {
      runs.push(args);
      return args[0];
    });
    await app.start();
    return { app, runs };
  }

  it('an add of the id waits out the dead publisher\'s deadline, takes the id over and runs its own call once', async () => {
    const { app, runs } = await started();
    const storage = app.storage;
    // A publisher reserved the id, then died: never published, never confirmed.
    expect(await storage.reservePublish!(reserved('order-7', ['lost']), { ttlMs: 60_000, publishMs: 500 })).toEqual({ kind: 'reserved' });
    const added = await app.addTask('t', ['mine'], { id: 'order-7' });
    expect(added.deduplicated, 'a reservation never published must not answer as a duplicate').toBeUndefined();
    const done = await app.wait('order-7', 10_000);
    expect(done.status).toBe(TaskStatus.SUCCESS);
    expect(done.returning).toBe('mine');
    await sleep(300); // a second run would have had time
    expect(runs).toEqual([['mine']]);
    // Published and confirmed now: a later add is an ordinary duplicate.
    expect((await app.addTask('t', ['again'], { id: 'order-7' })).deduplicated).toBe(true);
  });

  it('an add of the id waits while the reservation is within its deadline; confirmed meanwhile, it answers the existing task', async () => {
    const { app, runs } = await started();
    const storage = app.storage;
    expect(await storage.reservePublish!(reserved('order-8', ['theirs']), { ttlMs: 60_000, publishMs: 60_000 })).toEqual({ kind: 'reserved' });
    let answered = false;
    const adding = app.addTask('t', ['mine'], { id: 'order-8' }).finally(() => (answered = true));
    await sleep(500);
    expect(answered, 'an unconfirmed reservation within its deadline is waited for, not answered as a duplicate at once').toBe(false);
    // Its publisher (alive, slow) confirms: the id is its task's.
    await storage.confirmPublish!('order-8', true);
    const added = await adding;
    expect(added.deduplicated).toBe(true);
    expect(added.args).toEqual(['theirs']);
    expect(runs).toEqual([]);
  });
});

describe('a publish that failed', () => {
  it('releases its reservation at once: the next add of the id publishes without waiting for the deadline', async () => {
    const records = new MemoryBackend();
    // leaseMs (the publishing deadline) longer than the test: only the release lets the second add through.
    const config: Partial<Config> = { ...BASE, leaseMs: 120_000 };
    const refused = new QueueTasks({ name: 'refused', plugins: [refusingBroker(), memory({ name: 'memory-storage', broker: false, backend: records })], config, globals: false, sharedTasks: false });
    const working = new QueueTasks({ name: 'refused', plugins: [memory({ name: 'memory-broker', storage: false, backend: new MemoryBackend() }), memory({ name: 'memory-storage', broker: false, backend: records })], config, globals: false, sharedTasks: false });
    working.task('t', (s: string) => s);
    await refused.start({ worker: false });
    await working.start();
    try {
      await expect(refused.addTask('t', ['first'], { id: 'order-9' })).rejects.toThrow('the server said no');
      const added = await working.addTask('t', ['second'], { id: 'order-9' });
      expect(added.deduplicated).toBeUndefined();
      expect((await working.wait('order-9', 10_000)).returning).toBe('second');
    } finally {
      await refused.stop();
      await working.stop();
    }
  });
});
