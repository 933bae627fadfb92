import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { redis } from '../../plugins/redis/index.js';
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
