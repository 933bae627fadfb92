/**
 * A worker of several queues on Redis (placement 'app': one claim over all of them). At one
 * priority the claim merges the queues by their enqueue order (the app's counter); across
 * priorities it orders by priority first. Both are read differently by the claim (lua.ts STEP).
 */
import { describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, suiteApps } from './redis-helpers.js';

const { apps, names } = suiteApps();
const QUEUES = ['qa', 'qb', 'qc'];

function app(name: string, concurrency: number): QueueTasks {
  const a = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })], config: { logLevel: 'silent', concurrency, queues: QUEUES }, globals: false, sharedTasks: false });
  apps.push(a);
  return a;
}

function tasks(a: QueueTasks, seen: string[]): void {
  for (const q of QUEUES) a.task({ name: `t-${q}`, queue: q }, (label: string) => void seen.push(label));
}

describe('redis: a worker of several queues', () => {
  it('takes tasks of one priority in the order they were enqueued, across its queues', async () => {
    const name = uniqueName('fifo-q');
    names.push(name);
    const producer = app(name, 1);
    tasks(producer, []);
    await producer.start({ worker: false });
    const labels: string[] = [];
    // One add per tick, the queue picked so that no queue's order alone gives the answer.
    for (let i = 0; i < 30; i++) {
      const q = QUEUES[(i * 7) % 3]!;
      labels.push(`${q}-${i}`);
      await producer.addTask(`t-${q}`, [`${q}-${i}`]);
    }
    const seen: string[] = [];
    const worker = app(name, 1);
    tasks(worker, seen);
    await worker.start();
    await waitUntil(() => seen.length === labels.length, 'every task ran');
    expect(seen).toEqual(labels);
  });

  it('runs every task once when one priority does not fill a claim and the rest wait at another', async () => {
    const name = uniqueName('levels-q');
    names.push(name);
    const producer = app(name, 1);
    tasks(producer, []);
    await producer.start({ worker: false });
    const ids: string[] = [];
    // Each queue: one task at priority 0, then four at priority 5; the worker claims up to 5 at once.
    for (const q of QUEUES) ids.push((await producer.addTask(`t-${q}`, [`${q}-urgent`], { priority: 0 })).id);
    for (let i = 0; i < 4; i++) for (const q of QUEUES) ids.push((await producer.addTask(`t-${q}`, [`${q}-${i}`], { priority: 5 })).id);
    const seen: string[] = [];
    const worker = app(name, 10);
    tasks(worker, seen);
    await worker.start();
    for (const id of ids) expect((await worker.wait(id, 10_000)).status).toBe('success');
    expect(seen.length).toBe(ids.length);
    expect(new Set(seen).size).toBe(ids.length);
    // The three urgent ones were claimed first: the first claim takes them with the oldest of the rest.
    expect(seen.slice(0, 3).sort()).toEqual(QUEUES.map((q) => `${q}-urgent`));
  });
});
