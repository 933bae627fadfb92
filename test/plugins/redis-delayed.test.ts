/**
 * Delayed tasks on Redis with an idle worker: the worker wakes at each due time by itself (a local
 * timer, not the blocking cap), promotion moves a batch without decoding the usual message and
 * still decodes the unusual ones, and nothing starts before its time. No lateness bounds here:
 * lateness is measured by the bench (`npm run bench -- --broker redis --delay MS`).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { Keys } from '../../plugins/redis/keys.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

let admin: Redis;
const names: string[] = [];
const apps: QueueTasks[] = [];
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  for (const a of apps) await a.stop().catch(() => undefined);
  await deleteAppKeys(admin, names);
  await admin?.quit();
});

/** An app whose blocking cap (a minute) is far beyond every wait in these tests. */
function app(tag: string): QueueTasks {
  const name = uniqueName(tag);
  names.push(name);
  const a = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 60_000 })], config: { logLevel: 'silent', concurrency: 20 }, globals: false, sharedTasks: false });
  apps.push(a);
  return a;
}

describe('redis: delayed tasks with an idle worker', () => {
  it('runs every delayed task, none before its due time, in several waves without a producer waking the worker', async () => {
    const a = app('dly-waves');
    const started = new Map<string, number>();
    const t = a.task('t', (label: string) => label);
    await a.start();
    await sleep(200); // the worker is blocked on its marker
    // Mixed shapes: the usual message (promoted from its layout), one with meta, odd queue names
    // and fractional priorities (decoded), and retries of a delayed delivery go through the same path.
    const plan: Array<{ delay: number; queue?: string; priority?: number; meta?: Record<string, unknown> }> = [];
    for (let k = 0; k < 30; k++) plan.push({ delay: 150 + (k % 6) * 120 });
    plan.push({ delay: 400, meta: { priority: 3, createdAt: 1, maxDeliveries: 2 } });
    plan.push({ delay: 500, queue: 'q"uote', priority: 2.5 });
    plan.push({ delay: 300, queue: 'back\\slash', priority: -1 });
    const handles = await Promise.all(
      plan.map((p, k) =>
        t.addTask([`d${k}`], { delay: p.delay, ...(p.queue !== undefined ? { queue: p.queue } : {}), ...(p.priority !== undefined ? { priority: p.priority } : {}), ...(p.meta !== undefined ? { meta: p.meta } : {}) }),
      ),
    );
    // The odd queues need a worker of their own queues: a second app consuming them.
    const b = new QueueTasks({ name: a.name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 60_000 })], config: { logLevel: 'silent', queues: ['q"uote', 'back\\slash'] }, globals: false, sharedTasks: false });
    apps.push(b);
    b.task('t', (label: string) => label);
    await b.start();
    const records = await Promise.all(handles.map((h) => a.wait(h.id, 15_000)));
    for (const [k, rec] of records.entries()) {
      expect(rec.status).toBe('success');
      expect(rec.returning).toBe(`d${k}`);
      started.set(rec.id, rec.startedAt!);
      // Server and local clocks are the same host's here: never before its due time.
      expect(rec.startedAt! - handles[k]!.createdAt).toBeGreaterThanOrEqual(plan[k]!.delay);
      expect(rec.queue).toBe(plan[k]!.queue ?? 'default');
      expect(rec.priority).toBe(plan[k]!.priority ?? 0);
    }
    expect(started.size).toBe(plan.length);
    const keys = new Keys(PREFIX, a.name);
    expect(await admin.zcard(keys.delayed)).toBe(0);
    // Promoted first deliveries left the 'delayed' index of their queues.
    for (const q of ['default', 'q"uote', 'back\\slash']) expect(await admin.zcard(`${PREFIX}:{${a.name}}:s:delayed:${q}`)).toBe(0);
  });

  it('keeps the next due time across a step that only settles: a delayed task still runs after a ready one finished', async () => {
    const a = app('dly-settle');
    const t = a.task('t', (label: string) => label);
    await a.start();
    await sleep(200);
    const later = await t.addTask(['later'], { delay: 600 });
    await sleep(100);
    // A ready task wakes the worker, which learns the due time, runs it and settles it in a step
    // that claims nothing (the last claim was short): that step must not forget the due time.
    const now = await t.addTask(['now']);
    expect((await a.wait(now.id, 5_000)).returning).toBe('now');
    const done = await a.wait(later.id, 5_000); // the cap is a minute
    expect(done.returning).toBe('later');
    expect(done.startedAt! - later.createdAt).toBeGreaterThanOrEqual(600);
  });

  it('drains a batch due together: every task runs once', async () => {
    const a = app('dly-batch');
    const runs = new Map<number, number>();
    const t = a.task('t', (n: number) => void runs.set(n, (runs.get(n) ?? 0) + 1));
    await a.start();
    const n = 1_000;
    await t.addTasks(Array.from({ length: n }, (_, k): [number] => [k]), { delay: 300 });
    await waitUntil(() => runs.size === n, 'every delayed task ran', 20_000);
    await sleep(100);
    expect([...runs.values()].every((c) => c === 1)).toBe(true);
    expect(await admin.zcard(new Keys(PREFIX, a.name).delayed)).toBe(0);
  });
});
