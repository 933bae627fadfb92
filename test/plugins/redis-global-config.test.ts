import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisConnection } from '../../plugins/redis/connection.js';
import { RedisGlobalConfig } from '../../plugins/redis/index.js';
import { globalConfigConformance } from '../contracts/index.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
});

globalConfigConformance({
  name: 'redis',
  create: () => new RedisGlobalConfig(new RedisConnection({ url: REDIS_URL, prefix: PREFIX })),
  cleanup: (names) => deleteAppKeys(admin, names),
});
