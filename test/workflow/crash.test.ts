// A chain through processes: the producer exits right after submitting, the process running
// step 2 is SIGKILLed; another worker reruns step 2, step 3 runs exactly once, the chain succeeds.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { waitUntil, sleep } from '../contracts/helpers.js';
import { RabbitFixture, TEST_PREFIX } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { startChild, type Child as Proc } from '../support/child.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/workflow-process.ts', import.meta.url));
const fx = new RabbitFixture();
const names: string[] = [];
const procs: ChildProcess[] = [];
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await fx.cleanup(names);
  await deleteAppKeys(admin, names);
  await admin.del(...names.map((n) => `${n}:s3-runs`));
  await fx.close();
  await admin.quit();
});

function launch(env: Record<string, string>): Proc {
  const child = startChild(FIXTURE, env, { quiet: true });
  procs.push(child.proc);
  return child;
}

const cases = [
  { broker: 'redis', mode: 'hang' },
  { broker: 'rabbitmq', mode: 'hang' },
  { broker: 'redis', mode: 'settle' },
  { broker: 'rabbitmq', mode: 'settle' },
  // Killed between storage reserving step 3's id and publishing step 3 (RabbitMQ: two steps).
  { broker: 'rabbitmq', mode: 'reserved' },
] as const;

describe.each(cases)('chain across processes on $broker, step 2 killed ($mode)', ({ broker, mode }) => {
  it('survives its producer exiting and the SIGKILL of the process running step 2', async () => {
    const app = `wf-crash-${broker}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    names.push(app);
    const env = { QT_APP: app, QT_BROKER: broker, QT_AMQP_PREFIX: TEST_PREFIX, QT_MODE: mode };
    const a = launch({ ...env, QT_ROLE: 'worker' });
    await waitUntil(() => a.isReady(), 'worker A ready', 20_000);
    const producer = launch({ ...env, QT_ROLE: 'producer' });
    expect(await producer.exited).toBe(0);
    const id = producer.lines.find((l) => l.startsWith('submitted '))!.split(' ')[1]!;
    await waitUntil(() => a.lines.some((l) => l.startsWith('start s2 1 ')), 'step 2 started in A', 20_000);
    const b = launch({ ...env, QT_ROLE: 'worker', QT_MODE: 'hang' });
    await waitUntil(() => b.isReady(), 'worker B ready', 20_000);
    if (mode === 'hang') a.proc.kill('SIGKILL');
    // settle: A kills itself after enqueueing step 3, before settling step 2; reserved: after
    // reserving its id, before publishing it
    expect(await a.exited).toBe('SIGKILL');
    if (mode === 'reserved') expect(a.lines).toContain(`reserved s3 ${id}`);

    const observer = new QueueTasks({
      name: app,
      plugins: broker === 'rabbitmq' ? [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] : [redis({ url: REDIS_URL })],
      config: { logLevel: 'silent' },
      globals: false,
    });
    await observer.start({ worker: false });
    try {
      const done = await observer.wait(id, 30_000);
      expect(done.status).toBe('success');
      expect(done.returning).toBe('done 20');
      await sleep(1_500); // a second s3 would have had time to run
      expect(await admin.get(`${app}:s3-runs`)).toBe('1');
      expect([...a.lines, ...b.lines].filter((l) => l.startsWith('start s3 ')).length).toBe(1);
      expect(b.lines.some((l) => l.startsWith('start s2 2 '))).toBe(true);
    } finally {
      await observer.stop();
      b.proc.kill('SIGTERM');
      await b.exited;
    }
  }, 90_000);
});

describe.each(['redis', 'rabbitmq'] as const)('workflow cancelled from another process on %s', (broker) => {
  it('cancels the step running in a worker process; the chain stops there', async () => {
    const app = `wf-cancel-${broker}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    names.push(app);
    const env = { QT_APP: app, QT_BROKER: broker, QT_AMQP_PREFIX: TEST_PREFIX, QT_MODE: 'cancel' };
    const a = launch({ ...env, QT_ROLE: 'worker' });
    await waitUntil(() => a.isReady(), 'worker ready', 20_000);
    const producer = launch({ ...env, QT_ROLE: 'producer' });
    expect(await producer.exited).toBe(0);
    const id = producer.lines.find((l) => l.startsWith('submitted '))!.split(' ')[1]!;
    await waitUntil(() => a.lines.some((l) => l.startsWith('start s2 1 ')), 'step 2 started in the worker', 20_000);

    const observer = new QueueTasks({
      name: app,
      plugins: broker === 'rabbitmq' ? [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] : [redis({ url: REDIS_URL })],
      config: { logLevel: 'silent' },
      globals: false,
    });
    await observer.start({ worker: false });
    try {
      expect(await observer.cancelWorkflow(id, 'from the test')).toEqual({ id, outcome: 'cancelled', steps: [{ id: `${id}.1`, found: 'running' }] });
      // Step 2 is settled after the worker decided about step 3: once it is final, step 3 would be queued.
      expect(await observer.wait(`${id}.1`, 20_000)).toMatchObject({ status: 'cancel', reason: 'from the test' });
      await waitUntil(() => a.lines.some((l) => l.startsWith('aborted s2 ')), 'the handler saw its signal', 20_000);
      expect(await observer.get(id)).toMatchObject({ status: 'cancel', reason: 'from the test' });
      expect((await observer.workflow(id))?.steps.map((s) => s.status)).toEqual(['success', 'cancel', 'cancel']);
      expect((await observer.counts()).reduce((n, c) => n + c.waiting + c.running, 0)).toBe(0);
      expect(await admin.get(`${app}:s3-runs`)).toBeNull();
    } finally {
      await observer.stop();
      a.proc.kill('SIGTERM');
      await a.exited;
    }
  }, 90_000);
});
