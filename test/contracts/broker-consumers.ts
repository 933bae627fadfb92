/**
 * Competing consumers in one process: several app instances of one app take from the same
 * queues; every task runs once, none is lost, and priorities hold across a worker's queues.
 */
import { expect, it } from 'vitest';
import { guide, sleep, uniqueName, waitUntil } from './helpers.js';
import { unlessLacking } from './lacks.js';
import type { SuiteContext } from './suite.js';

export function competingConsumers({ target, makeApp, base }: SuiteContext): void {
  it('competing workers: several app instances on one app run every task exactly once', async () => {
    const name = uniqueName('compete');
    const runs = new Map<number, number>();
    const byWorker = [0, 0, 0];
    for (let w = 0; w < 3; w++) {
      const worker = makeApp(name, { concurrency: 4 });
      worker.task('t', async (n: number) => {
        runs.set(n, (runs.get(n) ?? 0) + 1);
        byWorker[w]!++;
        await sleep(5);
        return n;
      });
      await worker.start();
    }
    const producer = makeApp(name);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 90 }, (_, i) => producer.addTask('t', [i])));
    const done = await Promise.all(recs.map((r) => producer.wait(r.id, 20_000)));
    expect(done.every((r, i) => r.status === 'success' && r.returning === i && r.attempts === 1)).toBe(true);
    // A lease period more: a task claimed twice would run again now.
    await sleep(base.leaseMs! * 2);
    expect([...runs.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 90 }, (_, i) => i));
    expect([...runs.values()].every((c) => c === 1), `a task ran on two competing workers: a take must lock the task (${guide('Leases: the one design that survives a crash')})`).toBe(true);
    expect(byWorker.reduce((a, b) => a + b, 0)).toBe(90);
  });

  unlessLacking(target.lacks?.priorityAcrossQueues)('priorities hold across the queues a worker consumes', async () => {
    const name = uniqueName('prioq');
    const producer = makeApp(name);
    producer.task({ name: 'a', queue: 'qa' }, () => undefined);
    producer.task({ name: 'b', queue: 'qb' }, () => undefined);
    await producer.start({ worker: false });
    const plan: Array<[string, 'a' | 'b', number]> = [['a9', 'a', 9], ['b1', 'b', 1], ['a5', 'a', 5], ['b7', 'b', 7], ['a0', 'a', 0], ['b3', 'b', 3]];
    const ids: string[] = [];
    for (const [label, task, priority] of plan) ids.push((await producer.addTask(task, [label], { priority })).id);
    const order: string[] = [];
    const worker = makeApp(name, { concurrency: 1, queues: ['qa', 'qb'] });
    worker.task({ name: 'a', queue: 'qa' }, (label: string) => void order.push(label));
    worker.task({ name: 'b', queue: 'qb' }, (label: string) => void order.push(label));
    await worker.start();
    for (const id of ids) await worker.wait(id, 10_000);
    await waitUntil(() => order.length === 6, 'six runs');
    expect(order, `priority must hold across the queues a worker consumes (${guide('`consume({ queues, concurrency, onDelivery })`')}), or declare lacks.priorityAcrossQueues`).toEqual(['a0', 'b1', 'b3', 'a5', 'b7', 'a9']);
  });
}
