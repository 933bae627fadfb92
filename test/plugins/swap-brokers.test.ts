/**
 * The "swap in one line" promise, tested: the same end-to-end suite (brokerConformance, unchanged)
 * runs once with Redis as the broker and once with RabbitMQ. The app's plugin list differs in one
 * entry only, the broker; results live in the same Redis storage either way, so task code and
 * what callers read back do not change. Real servers on loopback, nothing mocked.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import type { Plugin } from '../../core/plugin.js';
import { redis } from '../../plugins/redis/index.js';
import { brokerConformance } from '../contracts/index.js';
import { RESULTS_PREFIX, common } from '../fixtures/swap-plugins.js';
import { RabbitFixture } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys, injectMalformed } from './redis-helpers.js';

const fx = new RabbitFixture();
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
  await fx.close();
});

// Worker processes of the crash harness load the same plugins from here.
const FIXTURE = fileURLToPath(new URL('../fixtures/swap-plugins.ts', import.meta.url));

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
  process: { module: FIXTURE, export: 'redisBroker', execArgv: ['--import', 'tsx'] },
});

brokerConformance({
  name: 'swap: rabbitmq as the broker',
  plugins: (appName) => [brokers.rabbitmq!(appName), ...common()],
  injectMalformed: (appName, queue, payload) => fx.inject(appName, queue, payload),
  lacks: {
    priorityAcrossQueues: 'RabbitMQ delivers each queue on its own; priority holds within a queue',
    leaseTakeover: 'no time leases: a delivery stays with its connection until it closes (docs/rabbitmq.md)',
  },
  process: { module: FIXTURE, export: 'rabbitmqBroker', execArgv: ['--import', 'tsx'] },
  cleanup: async (names) => {
    await fx.cleanup(names);
    await deleteResults(names);
  },
});
