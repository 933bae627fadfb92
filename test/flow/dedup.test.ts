/**
 * Caller-chosen ids and dedup keys (issue 15) on every broker: memory, Redis (the broker keeps
 * the records: checked inside the enqueue script) and RabbitMQ with Redis storage (the id and key
 * are taken in storage before publishing). Real servers.
 */
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { Plugin } from '../../core/plugin.js';
import type { TaskRecord } from '../../core/record.js';
import type { AddTaskOptions, DedupOptions } from '../../core/index.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';

const fx = new RabbitFixture();
const redisApps: string[] = [];
afterAll(async () => {
  await fx.close();
  const admin = await adminClient();
  await deleteAppKeys(admin, redisApps);
  admin.disconnect();
});

interface Setup {
  readonly name: string;
  readonly plugins: (app: string) => Plugin[];
  /** The broker can change a queued task (debounce). */
  readonly debounce: boolean;
}

const SETUPS: Setup[] = [
  { name: 'memory', plugins: () => [memory()], debounce: true },
  { name: 'redis', plugins: () => [redis({ url: REDIS_URL })], debounce: true },
  { name: 'rabbitmq + redis storage', plugins: (app) => [fx.plugin(app), redis({ url: REDIS_URL, broker: false })], debounce: false },
];

const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 2_000, stopTimeoutMs: 2_000 };

describe.each(SETUPS)('dedup on $name', (setup) => {
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names.splice(0));
  });

  /** A started worker app whose task `t` records each run's args, taking `ms`. */
  async function started(ms = 0): Promise<{ app: QueueTasks; runs: Array<{ id: string; args: unknown[] }> }> {
    const name = uniqueName('dedup');
    names.push(name);
    redisApps.push(name);
    // Memory: one backend per app (the default), so the app is its own producer and worker.
    const app = new QueueTasks({ name, plugins: setup.plugins(name), config: BASE, globals: false, sharedTasks: false });
    apps.push(app);
    const runs: Array<{ id: string; args: unknown[] }> = [];
    app.task('t', async (...args: unknown[]) => {
      runs.push({ id: '', args });
      await sleep(ms);
      return args[0];
    });
    await app.start();
    return { app, runs };
  }

  it('an id added again while delayed, running or retained returns the existing record, flagged, and runs once', async () => {
    const { app, runs } = await started(150);
    const first = await app.addTask('t', [1], { id: 'order-42', delay: 200 });
    expect(first.id).toBe('order-42');
    expect(first.deduplicated).toBeUndefined();
    const again = await app.addTask('t', [2], { id: 'order-42' });
    expect(again.deduplicated).toBe(true);
    expect(again.id).toBe('order-42');
    expect(again.args).toEqual([1]);
    await waitUntil(() => runs.length === 1, 'the first run', 5_000);
    const running = await app.addTask('t', [3], { id: 'order-42' });
    expect(running.deduplicated).toBe(true);
    const final = await app.wait('order-42', 5_000);
    expect(final.status).toBe('success');
    const retained = await app.addTask('t', [4], { id: 'order-42' });
    expect(retained).toMatchObject({ deduplicated: true, status: 'success', args: [1] });
    await sleep(300);
    expect(runs.map((r) => r.args)).toEqual([[1]]);
  });

  it('concurrent adds of one id: exactly one is enqueued, the task runs once', async () => {
    const { app, runs } = await started();
    const records = await Promise.all(Array.from({ length: 20 }, (_, i) => app.addTask('t', [i], { id: 'same' })));
    expect(records.filter((r) => r.deduplicated !== true)).toHaveLength(1);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(['same']));
    await app.wait('same', 5_000);
    await sleep(300);
    expect(runs).toHaveLength(1);
  });

  it('simple: a second call is dropped while the first is pending, and enqueued once it finished', async () => {
    const { app, runs } = await started(300);
    const a = await app.addTask('t', ['a'], { dedup: { key: 'k', mode: 'simple' } });
    const b = await app.addTask('t', ['b'], { dedup: { key: 'k', mode: 'simple' } });
    expect(b).toMatchObject({ id: a.id, deduplicated: true });
    await app.wait(a.id, 5_000);
    const c = await app.addTask('t', ['c'], { dedup: { key: 'k', mode: 'simple' } });
    expect(c.deduplicated).toBeUndefined();
    expect(c.id).not.toBe(a.id);
    await app.wait(c.id, 5_000);
    expect(runs.map((r) => r.args[0])).toEqual(['a', 'c']);
  });

  it('simple: concurrent calls with one key enqueue exactly one task', async () => {
    const { app, runs } = await started(200);
    const records = await Promise.all(Array.from({ length: 10 }, (_, i) => app.addTask('t', [i], { dedup: { key: 'burst', mode: 'simple' } })));
    const enqueued = records.filter((r) => r.deduplicated !== true);
    expect(enqueued).toHaveLength(1);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set([enqueued[0]!.id]));
    await app.wait(enqueued[0]!.id, 5_000);
    await sleep(200);
    expect(runs).toHaveLength(1);
  });

  it('throttle: calls within ttlMs of the first are dropped even after it finished; later ones run', async () => {
    const { app, runs } = await started();
    const a = await app.addTask('t', ['a'], { dedup: { key: 'th', mode: 'throttle', ttlMs: 700 } });
    await app.wait(a.id, 5_000);
    const b = await app.addTask('t', ['b'], { dedup: { key: 'th', mode: 'throttle', ttlMs: 700 } });
    expect(b).toMatchObject({ id: a.id, deduplicated: true });
    await sleep(900);
    const c = await app.addTask('t', ['c'], { dedup: { key: 'th', mode: 'throttle', ttlMs: 700 } });
    expect(c.deduplicated).toBeUndefined();
    await app.wait(c.id, 5_000);
    expect(runs.map((r) => r.args[0])).toEqual(['a', 'c']);
  });

  // One of the two debounce tests applies to each setup; the other is not registered (never a skip).
  if (setup.debounce) it('debounce: a burst runs once, with the last call\'s args, after the delay from the last call', async () => {
    const { app, runs } = await started();
    const records: TaskRecord[] = [];
    const t0 = Date.now();
    for (let i = 1; i <= 5; i++) {
      records.push(await app.addTask('t', [i], { delay: 400, dedup: { key: 'db', mode: 'debounce' } }));
      await sleep(100);
    }
    const id = records[0]!.id;
    expect(records.slice(1).every((r) => r.id === id && r.deduplicated === true)).toBe(true);
    expect(records[4]!.args).toEqual([5]);
    const final = await app.wait(id, 5_000);
    expect(final.returning).toBe(5);
    // the last call came ~400 ms after the first; its delay restarted then
    expect(Date.now() - t0).toBeGreaterThanOrEqual(750);
    await sleep(300);
    expect(runs.map((r) => r.args)).toEqual([[5]]);
  });

  if (!setup.debounce) it('debounce fails clearly: the broker cannot change a queued task', async () => {
    const { app } = await started();
    const err = await app.addTask('t', [1], { delay: 100, dedup: { key: 'db', mode: 'debounce' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QTasksError);
    expect((err as QTasksError).code).toBe(ErrorCodes.UNSUPPORTED);
    expect((err as QTasksError).message).toMatch(/keeps the records/);
  });
});

describe('dedup input', () => {
  it('bad ids, keys, modes and windows are INVALID_OPTION naming the problem', async () => {
    const app = new QueueTasks({ name: uniqueName('dedup-input'), config: BASE, globals: false, sharedTasks: false });
    app.task('t', () => 1);
    await app.start({ worker: false });
    try {
      const bad: Array<[object, RegExp]> = [
        [{ id: '' }, /id must be a string of 1 to 200/],
        [{ id: 'a\nb' }, /control characters/],
        [{ id: 7 }, /id must be a string/],
        [{ dedup: { key: 'k', mode: 'sometimes' } }, /dedup.mode/],
        [{ dedup: { key: 'k', mode: 'throttle' } }, /needs ttlMs/],
        [{ dedup: { key: 'k', mode: 'simple', ttl: 5 } }, /unknown option "ttl"/],
        [{ dedup: { key: 'k', mode: 'debounce' } }, /needs a delay/],
        [{ dedup: { key: 'k', mode: 'simple' }, timeout: 100 }, /app.wait/],
      ];
      for (const [options, message] of bad) {
        const err = await app.addTask('t', [], options as never).catch((e: unknown) => e);
        expect(err, JSON.stringify(options)).toBeInstanceOf(QTasksError);
        expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_OPTION);
        expect((err as QTasksError).message).toMatch(message);
      }
    } finally {
      await app.stop();
    }
  });
});

describe('dedup types', () => {
  it('id and dedup are typed; a wrong mode does not compile', () => {
    expectTypeOf<AddTaskOptions['id']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<DedupOptions['mode']>().toEqualTypeOf<'simple' | 'throttle' | 'debounce'>();
    expectTypeOf<TaskRecord['deduplicated']>().toEqualTypeOf<true | undefined>();
    // @ts-expect-error: not a mode
    const bad: DedupOptions = { key: 'k', mode: 'sometimes' };
    // @ts-expect-error: the key is required
    const keyless: DedupOptions = { mode: 'simple' };
    expect([bad, keyless]).toHaveLength(2);
  });
});
