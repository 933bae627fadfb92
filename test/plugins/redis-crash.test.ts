/**
 * Real worker processes killed with SIGKILL mid-task: nothing is lost, every task ends in
 * success exactly once in storage, and a task that keeps killing its worker is dead-lettered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-worker.ts', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly started: string[];
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
}

function startWorker(app: string, env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, QT_APP: app, QT_REDIS_URL: REDIS_URL, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started: string[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let buffer = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'ready') onReady();
      else if (line.startsWith('start ')) started.push(line.slice(6));
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, started, ready, exited };
}

describe('redis plugin: worker processes killed with SIGKILL', () => {
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
    await deleteAppKeys(admin, names);
    for (const n of names.splice(0)) await admin.del(`qtasks-test:{${n}}:counts`);
  });
  afterAll(async () => {
    await admin?.quit();
  });

  function producer(name: string, extraDeliveries = 2): QueueTasks {
    names.push(name);
    const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent', extraDeliveries }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  }

  it('loses nothing: every task succeeds exactly once in storage after a worker is killed mid-task', async () => {
    const name = uniqueName('crash');
    const workers = [startWorker(name), startWorker(name), startWorker(name)];
    children.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    const app = producer(name);
    await app.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 40 }, () => app.addTask('work', [200])));
    const victim = workers[0]!;
    await waitUntil(() => victim.started.length >= 2, 'the victim to start tasks');
    const inFlight = [...victim.started];
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBeNull();

    const finals = await Promise.all(recs.map((r) => app.wait(r.id, 25_000)));
    expect(finals.every((f) => f.status === 'success' && f.returning === 200)).toBe(true);
    const counts = await waitUntil(async () => {
      const all = await admin.hgetall(`qtasks-test:{${name}}:counts`);
      return recs.every((r) => all[`settled:${r.id}`] !== undefined) ? all : undefined;
    }, 'every settlement counted');
    for (const r of recs) {
      expect(Number(counts[`settled:${r.id}`])).toBe(1);
      expect(Number(counts[`exec:${r.id}`])).toBeGreaterThanOrEqual(1);
    }
    // The tasks the victim was running when it died ran again elsewhere, as a later attempt.
    const rerun = finals.filter((f) => inFlight.includes(f.id) && f.attempts >= 2);
    expect(rerun.length).toBeGreaterThanOrEqual(1);
    for (const f of rerun) expect(Number(counts[`exec:${f.id}`])).toBeGreaterThanOrEqual(2);
    // Nothing is left behind in the queue structures of the app.
    expect(await admin.zcard(`qtasks:{${name}}:leases`)).toBe(0);
    expect(await admin.zcard(`qtasks:{${name}}:q:default`)).toBe(0);
  });

  it('dead-letters a task that kills its worker again while it runs alone, and the next worker keeps running', async () => {
    const name = uniqueName('poison');
    const env = { QT_EXTRA_DELIVERIES: '0' };
    const first = startWorker(name, env);
    children.push(first);
    await first.ready;
    // The producer stamps the delivery limit on the message: one delivery, no retries.
    const app = producer(name, 0);
    await app.start({ worker: false });
    const poison = await app.addTask('suicide', []);
    expect(await first.exited).toBeNull();
    // Its first loss is not held against it (it may have been a neighbour's fault): it runs
    // again, alone, and kills the second worker too. That settles it.
    const second = startWorker(name, env);
    children.push(second);
    expect(await second.exited).toBeNull();
    const third = startWorker(name, env);
    children.push(third);
    await third.ready;
    const dead = await app.wait(poison.id, 20_000);
    expect(dead.status).toBe('dead');
    expect(dead.reason).toMatch(/lost while it ran alone/);
    expect((await app.broker.deadLetters(10)).some((l) => l.id === poison.id)).toBe(true);
    const ok = await app.addTask('work', [10], { timeout: 10_000 });
    expect(ok.status).toBe('success');
    expect(third.proc.exitCode).toBeNull();
  });
});
