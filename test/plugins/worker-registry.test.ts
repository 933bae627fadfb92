/**
 * The worker registry across processes on Redis: `app.workers()` in one process lists a worker
 * running in another, as its heartbeat describes it. And what it is for: two deployments of one
 * app name with different task sets (or the old and new workers of a rolling deploy) leave each
 * other's tasks to the worker that knows them, spending no attempt, and fail a task only when no
 * live worker knows it; a worker whose task set differs from a live one's warns at start.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { GlobalConfig, WorkerInfo } from '../../core/index.js';
import { ErrorCodes } from '../../core/errors.js';
import { memory, MemoryBackend } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { killAll, startWorkerProcess, type WorkerProcess } from '../support/worker-processes.js';
import { PREFIX, REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

let admin: Redis;
const apps: QueueTasks[] = [];
const children: WorkerProcess[] = [];
const names: string[] = [];

beforeAll(async () => {
  admin = await adminClient();
});
afterEach(async () => {
  await killAll(children.splice(0));
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  await deleteAppKeys(admin, names.splice(0));
});
afterAll(async () => {
  await admin?.quit();
});

function producer(name: string): QueueTasks {
  names.push(name);
  const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, prefix: PREFIX })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

function worker(name: string, env: Record<string, string> = {}): WorkerProcess {
  const w = startWorkerProcess({ QT_APP: name, QT_BROKER: 'redis', ...env });
  children.push(w);
  return w;
}

describe('worker registry', () => {
  it('types: app.workers() resolves to WorkerInfo[], ping() to boolean; a heartbeat needs a whole WorkerInfo', () => {
    const app = new QueueTasks({ name: 'types', globals: false, sharedTasks: false });
    expectTypeOf(app.workers).returns.resolves.toEqualTypeOf<WorkerInfo[]>();
    expectTypeOf(app.ping).returns.resolves.toEqualTypeOf<boolean>();
    expectTypeOf<WorkerInfo['tasks']>().toEqualTypeOf<readonly string[]>();
    const gc = {} as GlobalConfig;
    // @ts-expect-error a heartbeat carries the worker's info, not just its id
    void (() => gc.heartbeat('worker-id', 1_000));
  });


  it('lists a worker running in another process, and forgets it as soon as it stops', { timeout: 60_000 }, async () => {
    const name = uniqueName('reg');
    const app = producer(name);
    await app.start({ worker: false });
    expect(await app.workers()).toEqual([]);
    const before = Date.now();
    const child = worker(name, { QT_TASKS: 'whoami,slow', QT_CONCURRENCY: '3' });
    const id = await child.ready;
    const [listed, ...others] = await app.workers();
    expect(others).toEqual([]);
    expect(listed).toMatchObject({ id, app: name, host: hostname(), pid: child.proc.pid, queues: ['default'], concurrency: 3, tasks: ['slow', 'whoami'] });
    expect(listed!.startedAt).toBeGreaterThanOrEqual(before);
    expect(listed!.lastHeartbeat).toBeGreaterThanOrEqual(listed!.startedAt);
    expect(await app.ping()).toBe(true);
    // Tasks running now, and a heartbeat that keeps coming.
    const rec = await app.addTask('slow', [1_500]);
    await waitUntil(async () => (await app.workers())[0]?.running === 1, 'the running task in a heartbeat', 10_000, 50);
    expect((await app.wait(rec.id, 10_000)).status).toBe('success');
    await waitUntil(async () => (await app.workers())[0]?.running === 0, 'an idle heartbeat', 10_000, 50);
    expect((await app.workers())[0]!.lastHeartbeat).toBeGreaterThan(listed!.lastHeartbeat);
    child.proc.kill('SIGTERM');
    await child.closed;
    expect(await app.workers()).toEqual([]);
    expect(await app.ping()).toBe(false);
  });

  it('app.workers() on the memory plugin lists the workers of apps sharing a backend', async () => {
    const backend = new MemoryBackend();
    const make = (worker: boolean): QueueTasks => {
      const app = new QueueTasks({ name: 'mem-reg', plugins: [memory({ backend })], config: { logLevel: 'silent', concurrency: 2 }, globals: false, sharedTasks: false });
      app.task('t', () => worker);
      apps.push(app);
      return app;
    };
    const w = make(true);
    const p = make(false);
    await w.start();
    await p.start({ worker: false });
    const [info] = await p.workers();
    expect(info).toMatchObject({ app: 'mem-reg', pid: process.pid, queues: ['default'], concurrency: 2, running: 0, tasks: ['t'] });
    await w.stop();
    expect(await p.workers()).toEqual([]);
  });
});

describe('unknown tasks: left to a live worker that knows them', () => {
  it('two deployments of one app name with different task sets each run their own tasks, and warn at start', { timeout: 90_000 }, async () => {
    const name = uniqueName('two');
    const app = producer(name);
    await app.start({ worker: false });
    const a = worker(name, { QT_TASKS: 'whoami,only-a', QT_LABEL: 'A', QT_CONCURRENCY: '2' });
    const aId = await a.ready;
    const b = worker(name, { QT_TASKS: 'whoami,only-b', QT_LABEL: 'B', QT_CONCURRENCY: '2' });
    const bId = await b.ready;
    const records = [];
    for (let i = 0; i < 20; i++) records.push(await app.addTask(i % 2 === 0 ? 'only-a' : 'only-b', []));
    const finals = await Promise.all(records.map((r) => app.wait(r.id, 60_000)));
    for (const [i, f] of finals.entries()) {
      expect(f.status).toBe('success');
      expect(f.returning).toBe(i % 2 === 0 ? 'A' : 'B');
      // Handed back unrun: no attempt spent.
      expect(f.attempts).toBe(1);
    }
    // A task nobody alive knows fails, once, with UNKNOWN_TASK.
    const nobody = await app.addTask('nobody', [], { timeout: 20_000 });
    expect(nobody.status).toBe('error');
    expect(nobody.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
    expect(nobody.error?.message).toMatch(/no live worker/);
    // The worker started second saw the first and says which two disagree.
    const warning = b.stderr().split('\n').find((l) => l.includes('serve different task sets'));
    expect(warning).toBeDefined();
    expect(warning).toContain(aId);
    expect(warning).toContain(bId);
  });

  it('a rolling deploy: a new task is left to the new worker until the old one is gone, then fails when nobody knows it', { timeout: 90_000 }, async () => {
    const name = uniqueName('roll');
    const app = producer(name);
    await app.start({ worker: false });
    const old = worker(name, { QT_TASKS: 'whoami', QT_LABEL: 'old', QT_CONCURRENCY: '4' });
    await old.ready;
    const fresh = worker(name, { QT_TASKS: 'whoami,only-b', QT_LABEL: 'new', QT_CONCURRENCY: '1' });
    await fresh.ready;
    const records = [];
    for (let i = 0; i < 8; i++) records.push(await app.addTask('only-b', []));
    for (const r of records) {
      const f = await app.wait(r.id, 60_000);
      expect(f.status).toBe('success');
      expect(f.returning).toBe('new');
      expect(f.attempts).toBe(1);
    }
    // The new worker goes away: the old one no longer has anyone to leave the task to.
    fresh.proc.kill('SIGTERM');
    await fresh.closed;
    const orphan = await app.addTask('only-b', [], { timeout: 20_000 });
    expect(orphan.status).toBe('error');
    expect(orphan.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
  });
});
