/**
 * The control plane across real processes: a task running in a child process is cancelled from
 * the parent, a pause set by the parent stops the child's worker (also one started while
 * paused), and events and progress of tasks run in the child reach the parent.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { TaskEvent } from '../../core/contracts.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';
import { type Child, startControlWorker } from './control-worker-process.js';

function startWorker(app: string): Child {
  return startControlWorker({ QT_APP: app, QT_REDIS_URL: REDIS_URL });
}

describe('redis control plane across processes', () => {
  let admin: Redis;
  const children: Child[] = [];
  const apps: QueueTasks[] = [];
  const names: string[] = [];

  beforeAll(async () => {
    admin = await adminClient();
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await c.exited;
    }
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await deleteAppKeys(admin, names.splice(0));
  });
  afterAll(async () => {
    await admin?.quit();
  });

  async function setup(): Promise<{ name: string; producer: QueueTasks }> {
    const name = uniqueName('ctl');
    names.push(name);
    const producer = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(producer);
    await producer.start({ worker: false });
    return { name, producer };
  }

  function child(name: string): Child {
    const c = startWorker(name);
    children.push(c);
    return c;
  }

  it('cancels a task running in another process: its signal aborts there, it ends cancel promptly, never retried', async () => {
    const { name, producer } = await setup();
    const worker = child(name);
    await worker.ready;
    const rec = await producer.addTask('slow', []);
    await waitUntil(() => worker.lines.includes(`start ${rec.id}`), 'the task started in the child', 20_000);
    const t0 = Date.now();
    expect(await producer.cancel(rec.id, 'from the parent')).toBe('running');
    const done = await producer.wait(rec.id, 10_000);
    const took = Date.now() - t0;
    expect(done).toMatchObject({ status: 'cancel', reason: 'from the parent', attempts: 1 });
    expect(took).toBeLessThan(2_000); // "well under a second" on an idle machine; generous on a shared one
    await waitUntil(() => worker.lines.includes(`aborted ${rec.id}`), 'the signal aborted in the child');
    await sleep(500);
    expect(worker.lines.filter((l) => l === `start ${rec.id}`)).toHaveLength(1);
    expect((await producer.get(rec.id))?.status).toBe('cancel');
  });

  it('pause stops a worker in another process, including one started while paused; resume restarts it', async () => {
    const { name, producer } = await setup();
    await producer.pause('default');
    const worker = child(name);
    await worker.ready;
    const first = await producer.addTask('quick', [1]);
    await sleep(1_000);
    expect((await producer.get(first.id))?.status).toBe('new');
    await producer.resume('default');
    expect((await producer.wait(first.id, 5_000)).returning).toBe(1);
    await producer.pause();
    const second = await producer.addTask('quick', [2]);
    await sleep(1_000);
    expect((await producer.get(second.id))?.status).toBe('new');
    expect((await producer.counts('default'))[0]).toMatchObject({ waiting: 1, paused: true });
    await producer.resume();
    expect((await producer.wait(second.id, 5_000)).returning).toBe(2);
  });

  it('events and progress of a task run in another process reach the parent', async () => {
    const { name, producer } = await setup();
    const seen: TaskEvent[] = [];
    producer.events.on('*', (e) => void seen.push(e));
    await producer.events.ready();
    const worker = child(name);
    await worker.ready;
    const values: unknown[] = [];
    const done = await producer.addTask('tick', [], { timeout: 10_000, onProgress: (v) => values.push(v) });
    expect(done).toMatchObject({ status: 'success', returning: 'ticked', progress: 3 });
    expect(values).toEqual([1, 2, 3]);
    await waitUntil(() => seen.some((e) => e.id === done.id && e.type === 'completed'), 'completed event');
    expect(seen.filter((e) => e.id === done.id).map((e) => e.type)).toEqual(['added', 'active', 'progress', 'progress', 'progress', 'completed']);
    expect(seen.find((e) => e.type === 'active' && e.id === done.id)).toMatchObject({ name: 'tick', queue: 'default', attempt: 1 });
  });
});
