/**
 * Results and thrown values no broker can encode (a toJSON that throws or returns a BigInt, a
 * throwing getter or proxy, deep nesting, an unprintable thrown object) end their own task, once,
 * on every broker: the worker's slots stay free and a healthy task still runs. Real servers.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, type Plugin } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { deleteAppKeys as deleteAppKeysOf } from '../../plugins/redis/admin.js';

const RESULTS_PREFIX = 'qtasks-hostile-results';
const fx = new RabbitFixture();
let admin: Redis;
const names: string[] = [];
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await deleteAppKeys(admin, names);
  for (const n of names) await deleteAppKeysOf(admin, n, RESULTS_PREFIX);
  await fx.cleanup(names);
  await fx.close();
  await admin?.quit();
});

const setups: Record<string, (name: string) => Plugin[]> = {
  memory: () => [],
  redis: () => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })],
  rabbitmq: (name) => [fx.plugin(name), redis({ name: 'results', url: REDIS_URL, broker: false, prefix: RESULTS_PREFIX })],
};

function nested(levels: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/** A value whose toJSON, toString and every conversion throw. */
function unprintable(): object {
  const boom = (): never => {
    throw new TypeError('cannot describe me');
  };
  return { toJSON: boom, toString: boom, [Symbol.toPrimitive]: boom };
}

/** Each returns a result no broker could encode as it is. */
const hostileResults: Record<string, () => unknown> = {
  'toJSON throws': () => ({ a: { toJSON: () => { throw new Error('no json for you'); } } }),
  'toJSON returns a BigInt': () => ({ n: { toJSON: () => 10n } }),
  'getter throws': () => ({
    get x(): number {
      throw new RangeError('getter exploded');
    },
  }),
  'proxy throws': () =>
    new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('proxy trap');
        },
      },
    ),
  '10,000 levels deep': () => nested(10_000),
};

describe.each(Object.keys(setups))('hostile values on %s', (broker) => {
  it('a result that cannot be encoded ends its task in INVALID_RESULT; two of them on a concurrency-2 worker leave it free', async () => {
    const name = uniqueName(`hostile-${broker}`);
    names.push(name);
    const app = new QueueTasks({ name, plugins: setups[broker]!(name), config: { concurrency: 2, logLevel: 'silent' }, globals: false, sharedTasks: false });
    const tasks = Object.entries(hostileResults).map(([label, make], i) => [label, app.task(`hostile-${i}`, make)] as const);
    const healthy = app.task('healthy', (n: number) => n + 1);
    try {
      await app.start();
      // Two at a time: before the fix each held a slot forever, so the next pair never started.
      for (let i = 0; i < tasks.length; i += 2) {
        const pair = tasks.slice(i, i + 2);
        const records = await Promise.all(pair.map(([, t]) => t.addTask([], { timeout: 15_000 })));
        records.forEach((record, k) => {
          expect(record.status, pair[k]![0]).toBe('error');
          expect(record.error?.code, pair[k]![0]).toBe(ErrorCodes.INVALID_RESULT);
          expect(record.error?.message).toContain('returned a value that is not plain JSON: result');
          expect(record.attempts).toBe(1);
        });
      }
      expect((await healthy.addTask([41], { timeout: 15_000 })).returning).toBe(42);
    } finally {
      await app.stop();
    }
  });

  it('a thrown value that cannot be described is an ordinary failure of its task, counted once (retry: 0)', async () => {
    const name = uniqueName(`unprintable-${broker}`);
    names.push(name);
    const app = new QueueTasks({ name, plugins: setups[broker]!(name), config: { concurrency: 2, logLevel: 'silent' }, globals: false, sharedTasks: false });
    let runs = 0;
    const thrower = app.task({ name: 'thrower', retry: 0 }, () => {
      runs++;
      throw unprintable();
    });
    const healthy = app.task('healthy', () => 'ok');
    try {
      await app.start();
      const records = await Promise.all([thrower.addTask([], { timeout: 15_000 }), thrower.addTask([], { timeout: 15_000 })]);
      for (const record of records) {
        expect(record.status).toBe('error');
        expect(record.error?.code).toBe(ErrorCodes.NON_ERROR_THROWN);
        expect(record.attempts).toBe(1);
      }
      expect((await healthy.addTask([], { timeout: 15_000 })).returning).toBe('ok');
      expect(runs).toBe(2);
    } finally {
      await app.stop();
    }
  });
});
