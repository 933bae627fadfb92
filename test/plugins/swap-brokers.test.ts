/**
 * The "swap in one line" promise, tested: the same end-to-end suite (brokerConformance, unchanged)
 * runs once with Redis as the broker and once with RabbitMQ. The app's plugin list differs in one
 * entry only, the broker; results live in the same Redis storage either way, so task code and
 * what callers read back do not change. Real servers on loopback, nothing mocked.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import type { Plugin } from '../../core/plugin.js';
import { redis } from '../../plugins/redis/index.js';
import { brokerConformance } from '../contracts/index.js';
import { RabbitFixture } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys, injectMalformed } from './redis-helpers.js';

const RESULTS_PREFIX = 'qtasks-swap-results';
const fx = new RabbitFixture();
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
  await fx.close();
});

/** The entries every app has, whatever its broker: results (and liveness) in Redis. */
const common = (): Plugin[] => [redis({ name: 'results', url: REDIS_URL, broker: false, prefix: RESULTS_PREFIX })];

async function deleteResults(names: readonly string[]): Promise<void> {
  for (const n of names) {
    const keys = await admin.keys(`${RESULTS_PREFIX}:{${n}}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
}

// --- the one line ---
const brokers: Record<string, (appName: string) => Plugin> = {
  redis: () => redis({ name: 'broker', url: REDIS_URL, storage: false, globalConfig: false, blockTimeoutMs: 1_000 }),
  rabbitmq: (appName) => fx.plugin(appName),
};

brokerConformance({
  name: 'swap: redis as the broker',
  plugins: (appName) => [brokers.redis!(appName), ...common()],
  injectMalformed: (appName, queue, payload) => injectMalformed(admin, appName, queue, payload),
  cleanup: async (names) => {
    await deleteAppKeys(admin, names);
    await deleteResults(names);
  },
});

brokerConformance({
  name: 'swap: rabbitmq as the broker',
  plugins: (appName) => [brokers.rabbitmq!(appName), ...common()],
  injectMalformed: (appName, queue, payload) => fx.inject(appName, queue, payload),
  lacks: { priorityAcrossQueues: 'RabbitMQ delivers each queue on its own; priority holds within a queue' },
  cleanup: async (names) => {
    await fx.cleanup(names);
    await deleteResults(names);
  },
});
