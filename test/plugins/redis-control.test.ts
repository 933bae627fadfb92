import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { Keys, redis } from '../../plugins/redis/index.js';
import { gate, uniqueName } from '../contracts/helpers.js';
import { controlConformance } from '../contracts/index.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
});

controlConformance({
  name: 'redis (broker and storage in one)',
  plugins: (_name, options) => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000, ...options })],
  cleanup: (names) => deleteAppKeys(admin, names),
});

// Records kept by another plugin: the broker's control offers what its queues and indexes hold.
controlConformance({
  name: 'redis broker with a separate redis storage',
  plugins: () => [
    redis({ name: 'redis-broker', url: REDIS_URL, storage: false, globalConfig: false, blockTimeoutMs: 1_000 }),
    redis({ name: 'redis-storage', url: REDIS_URL, broker: false, prefix: `${PREFIX}-records` }),
  ],
  unsupported: ['list', 'retry', 'remove', 'clean', 'purge'],
  cleanup: async (names) => {
    await deleteAppKeys(admin, names);
    for (const n of names) await (await import('../../plugins/redis/admin.js')).deleteAppKeys(admin, n, `${PREFIX}-records`);
  },
});

describe('redis control plane: durable cancel', () => {
  it('a cancel whose message a worker missed still reaches it: the tombstone is read at lease renewal', async () => {
    const name = uniqueName('tomb');
    const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })], config: { logLevel: 'silent', leaseMs: 600 }, globals: false, sharedTasks: false });
    const started = gate();
    app.task({ name: 'slow', echo: true }, async (ctx) => {
      started.open();
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    });
    try {
      await app.start();
      const rec = await app.addTask('slow', []);
      await started.promise;
      // What CANCEL leaves besides its message on the ctl channel; no message is sent here.
      await admin.set(`${new Keys(PREFIX, name).base}c:${rec.id}`, 'tombstone', 'PX', 10_000);
      expect(await app.wait(rec.id, 5_000)).toMatchObject({ status: 'cancel', reason: 'tombstone' });
    } finally {
      await app.stop();
      await deleteAppKeys(admin, [name]);
    }
  });
});
