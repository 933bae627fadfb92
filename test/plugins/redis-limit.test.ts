/**
 * Queue limits held by the Redis claim itself (issue 15: "Redis: enforced inside the claim
 * script"): a task beyond its queue's globalConcurrency or rate window is not claimed, so it stays
 * waiting in its queue (app.counts says so) instead of being delivered and held by a worker; a
 * worker killed while holding running slots gives them back when its leases expire.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import { redis } from '../../plugins/redis/index.js';
import { gate, sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { startChild } from '../support/child.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-limit-worker.ts', import.meta.url));
const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 1_000, stopTimeoutMs: 1_000, concurrency: 8, heartbeatMs: 500 };

const names: string[] = [];
const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});
afterAll(async () => {
  const admin = await adminClient();
  await deleteAppKeys(admin, names);
  admin.disconnect();
});

/** The layout of the apps a describe block makes: 'queue' holds queue limits in the worker's gate (RedisBroker.claimLimits). */
let placement: 'app' | 'queue' = 'app';

function appNamed(name: string, register: (app: QueueTasks) => void = () => undefined): QueueTasks {
  const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 1_000, placement })], config: BASE, globals: false, sharedTasks: false });
  register(app);
  apps.push(app);
  return app;
}

function newName(): string {
  const name = uniqueName('redis-limit');
  names.push(name);
  return name;
}

/** The most of `times` within any window of `ms`. */
function maxInWindow(times: number[], ms: number): number {
  const t = [...times].sort((x, y) => x - y);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

async function countsOf(app: QueueTasks, queue: string): Promise<{ waiting: number; running: number }> {
  const c = (await app.counts(queue)).find((q) => q.queue === queue);
  return { waiting: c?.waiting ?? 0, running: c?.running ?? 0 };
}

/** Task `own` limited to 1 per second on a queue limited to 4 per second: both hold as handlers see them. */
async function taskAndQueueRate(): Promise<void> {
  const name = newName();
  const starts: number[] = [];
  const own: number[] = [];
  const register = (app: QueueTasks): void => {
    app.queue('shared', { rateLimit: { max: 4, perMs: 1_000 } });
    app.task({ name: 'plain', queue: 'shared' }, async (n: number) => {
      starts.push(Date.now());
      return n;
    });
    // claimed with the queue's window, then held by the worker's gate for its own 1 per second
    app.task({ name: 'own', queue: 'shared', rateLimit: { max: 1, perMs: 1_000 } }, async (n: number) => {
      starts.push(Date.now());
      own.push(Date.now());
      return n;
    });
  };
  const [a, b] = [appNamed(name, register), appNamed(name, register)];
  await a.start();
  await b.start();
  // the six `own` first: later windows claim four `plain` while earlier `own` are still held
  const records = await a.addTasks(Array.from({ length: 12 }, (_, i) => ({ name: i < 6 ? 'own' : 'plain', args: [i] })));
  const finals = await Promise.all(records.map((r) => a.wait(r.id, 20_000)));
  expect(finals.every((f) => f.status === 'success')).toBe(true);
  expect(starts).toHaveLength(12);
  expect(maxInWindow(starts, 1_000)).toBeLessThanOrEqual(4);
  expect(maxInWindow(own, 1_000)).toBeLessThanOrEqual(1);
}

describe('queue limits in the Redis claim', () => {
  beforeAll(() => {
    placement = 'app';
  });

  it('tasks beyond a queue\'s globalConcurrency stay waiting in the queue, not delivered and held', async () => {
    const name = newName();
    const release = gate();
    const started: number[] = [];
    const register = (app: QueueTasks): void => {
      app.queue('narrow', { globalConcurrency: 2 });
      app.task({ name: 'block', queue: 'narrow' }, async (n: number) => {
        started.push(n);
        await release.promise;
        return n;
      });
    };
    // two workers with 8 slots each: only the queue's limit can keep the other four waiting
    const [a, b] = [appNamed(name, register), appNamed(name, register)];
    await a.start();
    await b.start();
    const records = await a.addTasks(Array.from({ length: 6 }, (_, i) => ({ name: 'block', args: [i] })));
    await waitUntil(() => started.length >= 2, 'two running');
    await sleep(300); // room for a wrong third claim to show
    expect(started).toHaveLength(2);
    expect(await countsOf(a, 'narrow')).toEqual({ waiting: 4, running: 2 });
    release.open();
    const finals = await Promise.all(records.map((r) => a.wait(r.id, 10_000)));
    expect(finals.every((f) => f.status === 'success')).toBe(true);
    expect(await countsOf(a, 'narrow')).toEqual({ waiting: 0, running: 0 });
  }, 30_000);

  it('tasks beyond a full rate window stay waiting until it moves, then run', async () => {
    const name = newName();
    const starts: number[] = [];
    const register = (app: QueueTasks): void => {
      app.queue('paced', { rateLimit: { max: 3, perMs: 1_500 } });
      app.task({ name: 'tick', queue: 'paced' }, async (n: number) => {
        starts.push(Date.now());
        return n;
      });
    };
    const [a, b] = [appNamed(name, register), appNamed(name, register)];
    await a.start();
    await b.start();
    const records = await a.addTasks(Array.from({ length: 7 }, (_, i) => ({ name: 'tick', args: [i] })));
    await waitUntil(() => starts.length >= 3, 'the first window');
    await sleep(300);
    expect(starts).toHaveLength(3);
    expect(await countsOf(a, 'paced')).toEqual({ waiting: 4, running: 0 });
    const finals = await Promise.all(records.map((r) => a.wait(r.id, 15_000)));
    expect(finals.every((f) => f.status === 'success')).toBe(true);
    const sorted = [...starts].sort((x, y) => x - y);
    // 3 + 3 + 1: every fourth start is a full window after the first of the three before it
    for (let i = 3; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 3]!).toBeGreaterThanOrEqual(1_500);
  }, 30_000);

  it('a task held at the gate for its own limit after its queue\'s claim still keeps the queue\'s rate as handlers see it', taskAndQueueRate, 40_000);

  it('a worker killed while holding running slots gives them back at lease expiry', async () => {
    const name = newName();
    const { proc: child, lines, ready, exited } = startChild(FIXTURE, { QT_APP: name, QT_REDIS_URL: REDIS_URL, QT_PLACEMENT: placement });
    try {
      await ready;
      const producer = appNamed(name);
      await producer.start({ worker: false });
      const stalled = await producer.addTasks(Array.from({ length: 3 }, (_, i) => ({ name: 'stall', args: [i], options: { queue: 'held' } })));
      await waitUntil(() => lines.length >= 2, 'the child holds both slots');
      await sleep(300);
      // the third is waiting in the queue, not held by the child (which has six free slots)
      expect(lines).toHaveLength(2);
      expect(await countsOf(producer, 'held')).toEqual({ waiting: 1, running: 2 });
      child.kill('SIGKILL');
      await exited;

      // A new worker of the queue: the killed worker's two slots come back when its leases expire.
      const together = gate();
      let arrived = 0;
      const worker = appNamed(name, (app) => {
        app.queue('held', { globalConcurrency: 2 });
        app.task({ name: 'stall', queue: 'held' }, (n: number) => n);
        // ends only once both run at once: a slot leaked by the killed worker would leave one
        app.task({ name: 'meet', queue: 'held' }, async (n: number) => {
          if (++arrived === 2) together.open();
          await together.promise;
          return n;
        });
      });
      await worker.start();
      const finals = await Promise.all(stalled.map((r) => producer.wait(r.id, 15_000)));
      expect(finals.map((f) => f.status)).toEqual(['success', 'success', 'success']);
      const met = await producer.addTasks([0, 1].map((n) => ({ name: 'meet', args: [n], options: { queue: 'held' } })));
      const meetings = await Promise.all(met.map((r) => producer.wait(r.id, 10_000)));
      expect(meetings.map((f) => f.status)).toEqual(['success', 'success']);
      expect(await countsOf(producer, 'held')).toEqual({ waiting: 0, running: 0 });
    } finally {
      child.kill('SIGKILL');
    }
  }, 45_000);
});

describe('placement queue: queue limits held by the worker gate', () => {
  beforeAll(() => {
    placement = 'queue';
  });

  it('two workers never run more than the queue\'s globalConcurrency at once, and every task runs', async () => {
    const name = newName();
    let running = 0;
    let most = 0;
    const register = (app: QueueTasks): void => {
      app.queue('narrow', { globalConcurrency: 2 });
      app.task({ name: 'busy', queue: 'narrow' }, async (n: number) => {
        most = Math.max(most, ++running);
        await sleep(100);
        running--;
        return n;
      });
    };
    const [a, b] = [appNamed(name, register), appNamed(name, register)];
    await a.start();
    await b.start();
    const records = await a.addTasks(Array.from({ length: 8 }, (_, i) => ({ name: 'busy', args: [i] })));
    const finals = await Promise.all(records.map((r) => a.wait(r.id, 20_000)));
    expect(finals.every((f) => f.status === 'success')).toBe(true);
    expect(most).toBe(2);
  }, 30_000);

  it('a task held at the gate for its own limit keeps the queue\'s rate as handlers see it', taskAndQueueRate, 40_000);
});
