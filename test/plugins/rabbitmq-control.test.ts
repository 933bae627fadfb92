// RabbitMQ offers no control plane yet: every call must fail at once, clearly (docs/operations.md).
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { CONTROL_CAPABILITIES } from '../../core/contracts.js';
import { redis } from '../../plugins/redis/index.js';
import { controlConformance } from '../contracts/index.js';
import { RabbitFixture } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

const fx = new RabbitFixture();
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await fx.close();
  await admin?.quit();
});

controlConformance({
  name: 'rabbitmq broker + redis storage',
  plugins: (name) => [fx.plugin(name), redis({ url: REDIS_URL, broker: false })],
  unsupported: CONTROL_CAPABILITIES,
  cleanup: async (names) => {
    await fx.cleanup(names);
    await deleteAppKeys(admin, names);
  },
});
