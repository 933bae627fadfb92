// Groups through processes, on Redis and on RabbitMQ with Redis storage: a producer SIGKILLed as it
// submits sends the whole group or nothing; a worker SIGKILLed while it sends the members, or right
// after a member was counted (before its ack), neither loses nor doubles anything: the chord's
// callback runs once, with every result.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks, chord, group } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture, TEST_PREFIX } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { startChild, type Child as Proc } from '../support/child.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/group-process.ts', import.meta.url));
const fx = new RabbitFixture();
const names: string[] = [];
const procs: ChildProcess[] = [];
const apps: QueueTasks[] = [];
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.allSettled(apps.map((a) => a.stop()));
  await fx.cleanup(names);
  await deleteAppKeys(admin, names);
  if (names.length > 0) await admin.del(...names.map((n) => `${n}:sum-runs`));
  await fx.close();
  await admin.quit();
});

function launch(env: Record<string, string>): Proc {
  const child = startChild(FIXTURE, env, { quiet: true });
  procs.push(child.proc);
  return child;
}

type Broker = 'redis' | 'rabbitmq';

function setup(broker: Broker): { app: string; env: Record<string, string>; client(): QueueTasks } {
  const app = `wf-gcrash-${broker}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  names.push(app);
  const env = { QT_APP: app, QT_BROKER: broker, QT_AMQP_PREFIX: TEST_PREFIX, QT_SIZE: '20' };
  // A client of the app in the test's process: submits, observes; it runs no worker.
  const client = (): QueueTasks => {
    const q = new QueueTasks({
      name: app,
      plugins: broker === 'rabbitmq' ? [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] : [redis({ url: REDIS_URL })],
      config: { logLevel: 'silent' },
      globals: false,
      sharedTasks: false,
    });
    apps.push(q);
    return q;
  };
  return { app, env, client };
}

const SUM = Array.from({ length: 20 }, (_, i) => i * i).reduce((a, b) => a + b, 0);

describe.each(['redis', 'rabbitmq'] as const)('group submit and fan-in through processes on %s', (broker) => {
  it('a producer killed right after its publish leaves the whole group: it completes', async () => {
    const { app, env, client } = setup(broker);
    const producer = launch({ ...env, QT_ROLE: 'producer', QT_DIE: 'after' });
    expect(await producer.exited).toBe('SIGKILL');
    expect(producer.lines).not.toContain('not killed');
    const wf = producer.lines.find((l) => l.startsWith('published '))!.split(' ')[1]!;
    const worker = launch({ ...env, QT_ROLE: 'worker' });
    const observer = client();
    await observer.start({ worker: false });
    const done = await observer.wait(wf, 30_000);
    expect(done.status).toBe('success');
    expect(done.returning).toBe(SUM);
    expect(await admin.get(`${app}:sum-runs`)).toBe('1');
    expect(new Set(worker.lines.filter((l) => l.startsWith('run sq '))).size).toBe(20);
    worker.proc.kill('SIGTERM');
    await worker.exited;
  }, 60_000);

  it('a producer killed as it was about to publish leaves nothing of the group', async () => {
    const { env, client } = setup(broker);
    const producer = launch({ ...env, QT_ROLE: 'producer', QT_DIE: 'before' });
    expect(await producer.exited).toBe('SIGKILL');
    const wf = producer.lines.find((l) => l.startsWith('publishing '))!.split(' ')[1]!;
    const worker = launch({ ...env, QT_ROLE: 'worker' });
    await waitUntil(() => worker.isReady(), 'worker ready', 20_000);
    const observer = client();
    await observer.start({ worker: false });
    await sleep(1_000); // a member sent would have run by now
    expect(worker.lines.filter((l) => l.startsWith('run sq '))).toEqual([]);
    for (let j = 0; j < 20; j++) expect(await observer.get(`${wf}.m${j}`)).toBeUndefined();
    expect(await observer.workflow(wf)).toBeUndefined();
    worker.proc.kill('SIGTERM');
    await worker.exited;
  }, 60_000);

  it('a worker killed while it sends the members: its redelivery sends the rest, the callback runs once', async () => {
    const { app, env, client } = setup(broker);
    // Redis takes each id and its message in one script: killed after its first publish, it sent
    // some. RabbitMQ reserves an id in storage, then publishes: killed between the two, members are
    // reserved and not published; the redelivery waits out their deadline and takes them over.
    const dying = launch({ ...env, QT_ROLE: 'worker', QT_DIE: broker === 'redis' ? 'expand' : 'expand-reserved' });
    await waitUntil(() => dying.isReady(), 'worker ready', 20_000);
    const producer = client();
    const sq = producer.task('sq', (n: number) => n * n);
    const sum = producer.task('sum', (ns: number[]) => ns.length);
    await producer.start({ worker: false });
    const sent = await chord(group(Array.from({ length: 20 }, (_, i) => sq.with([i]))), sum).addTask();
    expect(await dying.exited).toBe('SIGKILL');
    if (broker === 'rabbitmq') expect(dying.lines.some((l) => /^reserved .*\.m[1-9]\d*$/.test(l))).toBe(true);
    const worker = launch({ ...env, QT_ROLE: 'worker' });
    const done = await producer.wait(sent.id, 30_000);
    expect(done.status).toBe('success');
    expect(done.returning).toBe(SUM);
    await sleep(1_000); // a second callback would have had time to run
    expect(await admin.get(`${app}:sum-runs`)).toBe('1');
    // The first member ran again in the new worker (its first attempt died while sending).
    expect(worker.lines).toContain('run sq 0 2');
    worker.proc.kill('SIGTERM');
    await worker.exited;
  }, 60_000);

  it.each(['joined-one', 'joined-last'] as const)('a worker killed right after a member was counted (%s): counted once, the callback runs once', async (die) => {
    const { app, env, client } = setup(broker);
    const dying = launch({ ...env, QT_ROLE: 'worker', QT_DIE: die });
    await waitUntil(() => dying.isReady(), 'worker ready', 20_000);
    const producer = client();
    const sq = producer.task('sq', (n: number) => n * n);
    const sum = producer.task('sum', (ns: number[]) => ns.length);
    await producer.start({ worker: false });
    const sent = await chord(group(Array.from({ length: 20 }, (_, i) => sq.with([i]))), sum).addTask();
    expect(await dying.exited).toBe('SIGKILL');
    const [, member, count] = dying.lines.find((l) => l.startsWith('joined '))!.split(' ');
    expect(Number(count) === 20).toBe(die === 'joined-last');
    const worker = launch({ ...env, QT_ROLE: 'worker' });
    const done = await producer.wait(sent.id, 30_000);
    expect(done.status).toBe('success');
    expect(done.returning).toBe(SUM);
    await sleep(1_000); // a second callback would have had time to run
    expect(await admin.get(`${app}:sum-runs`)).toBe('1');
    // The member that completed the group had no stored outcome: it ran again, and joined again.
    if (die === 'joined-last') expect(worker.lines).toContain(`run sq ${member} 2`);
    worker.proc.kill('SIGTERM');
    await worker.exited;
  }, 60_000);

  if (broker === 'rabbitmq') {
    it('a worker killed between reserving the chord callback and publishing it: the redelivered member takes it over, the callback runs once', async () => {
      const { app, env, client } = setup(broker);
      const dying = launch({ ...env, QT_ROLE: 'worker', QT_DIE: 'callback-reserved' });
      await waitUntil(() => dying.isReady(), 'worker ready', 20_000);
      const producer = client();
      const sq = producer.task('sq', (n: number) => n * n);
      const sum = producer.task('sum', (ns: number[]) => ns.length);
      await producer.start({ worker: false });
      const sent = await chord(group(Array.from({ length: 20 }, (_, i) => sq.with([i]))), sum).addTask();
      expect(await dying.exited).toBe('SIGKILL');
      expect(dying.lines).toContain(`reserved ${sent.id}`);
      // Reserved and never published: a `new` record under the workflow's id, and no callback queued.
      expect((await producer.get(sent.id))?.status).toBe('new');
      const worker = launch({ ...env, QT_ROLE: 'worker' });
      const done = await producer.wait(sent.id, 30_000);
      expect(done.status).toBe('success');
      expect(done.returning).toBe(SUM);
      await sleep(1_000); // a second callback would have had time to run
      expect(await admin.get(`${app}:sum-runs`)).toBe('1');
      // The member that completed the group had no stored outcome: it ran again and moved the workflow on.
      expect(worker.lines.filter((l) => / 2$/.test(l) && l.startsWith('run sq '))).toHaveLength(1);
      worker.proc.kill('SIGTERM');
      await worker.exited;
    }, 60_000);
  }
});
