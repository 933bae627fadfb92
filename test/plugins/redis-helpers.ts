/** Shared by the Redis suites: the server address, key cleanup, and corrupt-entry injection. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { QueueTasks } from '../../core/app.js';
import { waitUntil } from '../contracts/helpers.js';
import { deleteAppKeys as deleteKeysOf } from '../../plugins/redis/admin.js';
import { Keys } from '../../plugins/redis/keys.js';

export const REDIS_URL = process.env.QTASKS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PREFIX = 'qtasks';

/** A plain client for test-side inspection; fails loudly when no server answers. */
export async function adminClient(url = REDIS_URL): Promise<Redis> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await c.connect();
    await c.ping();
  } catch (err) {
    c.disconnect();
    throw new Error(`the Redis suites need a server at ${url}: ${(err as Error).message}`);
  }
  return c;
}

/** Deletes every key of the given apps (never FLUSHDB: the server is shared). */
export async function deleteAppKeys(admin: Redis, appNames: readonly string[]): Promise<void> {
  for (const name of appNames) await deleteKeysOf(admin, name, PREFIX);
}

/** Puts garbage where a task should be: a ready entry whose stored message is `payload`. */
export async function injectMalformed(admin: Redis, appName: string, queue: string, payload: string): Promise<void> {
  const keys = new Keys(PREFIX, appName);
  const id = `bad-${Math.random().toString(36).slice(2, 10)}`;
  await admin.set(keys.job(id), `|${payload}`);
  await admin.zadd(keys.ready(queue), 0, `${'0'.repeat(16)}0:${id}\n${payload}`);
  await admin.zadd(keys.wake(queue), 0, 'w');
}

/** Ids of this app's connections, by the `qtasks:<app>:<role>` names the plugin gives them. */
export async function appConnections(admin: Redis, appName: string): Promise<Array<{ id: string; name: string }>> {
  const list = await admin.client('LIST');
  const out: Array<{ id: string; name: string }> = [];
  for (const line of String(list).split('\n')) {
    const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1];
    if (id !== undefined && name !== undefined && name.startsWith(`qtasks:${appName}:`)) out.push({ id, name });
  }
  return out;
}

/** Waits until a redis-server the test started answers PING on 127.0.0.1:`port`. */
export async function waitForRedis(port: number, timeoutMs = 10_000): Promise<void> {
  await waitUntil(async () => {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => undefined); // refused until the server is up
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }, `redis-server on ${port}`, timeoutMs, 50);
}

/**
 * A suite's shared fixtures: an admin client, and the apps and app names it registers, stopped
 * and deleted after the suite (registers beforeAll/afterAll hooks: call it at module level).
 */
export function suiteApps(): { admin: () => Redis; apps: QueueTasks[]; names: string[] } {
  let admin: Redis | undefined;
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  beforeAll(async () => {
    admin = await adminClient();
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    if (admin !== undefined) await deleteAppKeys(admin, names);
    await admin?.quit();
  });
  return {
    admin: () => {
      if (admin === undefined) throw new Error('the admin client is not connected yet (use it inside a test)');
      return admin;
    },
    apps,
    names,
  };
}
