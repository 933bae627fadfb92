// The control plane on RabbitMQ with Redis storage: cancel, pause, events and progress; what AMQP
// cannot do by id (count, list, move, delete queued messages) fails at once, clearly (docs/rabbitmq.md).
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
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
  unsupported: ['counts', 'list', 'retry', 'promote', 'remove', 'clean', 'purge'],
  cleanup: async (names) => {
    await fx.cleanup(names);
    await deleteAppKeys(admin, names);
  },
});
